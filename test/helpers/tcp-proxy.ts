// A TCP proxy in front of PostgreSQL that a test can cut, so cdrex sees its database go away
// without the shared server being stopped (docs/decisions.md: outage tests never stop it).
//   cut():     every open connection is reset and new ones are refused, as when the server dies;
//   silence(): connections are accepted and nothing is relayed, as in a network partition;
//   restore(): back to a plain relay.
import net from 'node:net';

export interface TcpProxy {
  url: string;
  cut(): void;
  silence(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(databaseUrl: string): Promise<TcpProxy> {
  const target = new URL(databaseUrl);
  const sockets = new Set<net.Socket>();
  let mode: 'relay' | 'cut' | 'silent' = 'relay';

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (mode === 'cut') return client.resetAndDestroy();
    if (mode === 'silent') return; // accepted, never answered
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  return {
    url: url.toString(),
    cut() {
      mode = 'cut';
      for (const s of sockets) s.resetAndDestroy();
    },
    silence() {
      mode = 'silent';
      // Open connections stop relaying too: their bytes go nowhere.
      for (const s of sockets) {
        s.unpipe();
        s.pause();
      }
    },
    restore() {
      mode = 'relay';
      // Silenced connections are dead to both ends; drop them so the pool opens fresh ones.
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
