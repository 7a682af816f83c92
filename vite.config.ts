// Builds the portal (web/) into web/dist, which cdrex serves at `/`.
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

export default defineConfig({
  root: 'web',
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 200,
  },
  server: {
    // `npm run dev:web` proxies the APIs to a cdrex on the default port.
    proxy: { '/v2': 'http://127.0.0.1:8080', '/v3': 'http://127.0.0.1:8080' },
  },
});
