#!/usr/bin/env node
// Entry point of the `cdrex` command. The sources are TypeScript run through tsx's loader,
// so `npm install` is the only build step a fresh clone needs.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
