#!/usr/bin/env node
// Builds the dashboard (web/ -> web/dist) with Vite.
//   node scripts/build-web.mjs              always build
//   node scripts/build-web.mjs --if-stale   only when web/dist is missing or older than web/src
// `ensureWebBuilt()` is the same check for npm start, the browser tests and the bench.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const web = join(root, 'web');
const index = join(web, 'dist', 'index.html');

function newest(dir) {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/** True when web/dist is missing or a source file changed after it was built. */
export function webIsStale() {
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  return Math.max(newest(join(web, 'src')), statSync(join(web, 'index.html')).mtimeMs) > built;
}

/** Builds the dashboard when it is stale; returns the path of web/dist. */
export function ensureWebBuilt({ quiet = false } = {}) {
  if (!webIsStale()) return join(web, 'dist');
  if (!quiet) console.log('building the dashboard (vite build web)…');
  const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', web, '--logLevel', quiet ? 'error' : 'info'], {
    cwd: root,
    stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit',
  });
  if (r.status !== 0) throw new Error(`vite build failed (exit ${r.status})`);
  return join(web, 'dist');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--if-stale')) ensureWebBuilt();
  else {
    const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
    process.exit(
      spawnSync(process.execPath, [vite, 'build', web], { cwd: root, stdio: 'inherit' }).status ?? 1,
    );
  }
}
