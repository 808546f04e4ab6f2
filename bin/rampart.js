#!/usr/bin/env node
// Rampart is TypeScript run through tsx (Node 20 has no type stripping).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
process.exit(process.exitCode ?? 0);
