#!/usr/bin/env node
// `npm start`: checks the host (installing missing Debian packages when root), brings the demo
// stack up through Rampart in the foreground, and sends it gentle traffic. Ctrl-C stops it all.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const rampart = [process.execPath, [`${root}/bin/rampart.js`]];
const STACK = process.env.RAMPART_DEMO_STACK ?? `${root}/examples/demo/rampart.yaml`;
const URL_ = process.env.RAMPART_DEMO_URL ?? 'http://127.0.0.1:18080/';

if (process.platform !== 'linux' || process.getuid?.() !== 0) {
  console.error(
    'npm start needs Linux and root: Rampart creates network namespaces, bridges and nftables tables.\nRun: sudo npm start',
  );
  process.exit(3);
}

const doctor = spawnSync(rampart[0], [...rampart[1], 'doctor'], { encoding: 'utf8' });
if (doctor.status !== 0) {
  console.log('Installing what the host is missing (rampart doctor --fix)…');
  const fixed = spawnSync(rampart[0], [...rampart[1], 'doctor', '--fix'], { stdio: 'inherit' });
  if (fixed.status !== 0) process.exit(fixed.status ?? 1);
}

const up = spawn(rampart[0], [...rampart[1], 'up', '-f', STACK], { stdio: 'inherit' });
let stopping = false;
process.on('SIGINT', () => {
  stopping = true;
  up.kill('SIGINT');
});
process.on('SIGTERM', () => {
  stopping = true;
  up.kill('SIGINT');
});

// Gentle traffic once the published port answers: one request a second, a summary every ten.
let ok = 0;
let failed = 0;
const timer = setInterval(async () => {
  if (stopping) return;
  try {
    const res = await fetch(URL_, { signal: AbortSignal.timeout(2000) });
    const body = await res.text();
    if (res.ok) ok++;
    else failed++;
    if ((ok + failed) % 10 === 1)
      console.log(`[traffic] ${ok} ok, ${failed} failed; last: ${body.slice(0, 160)}`);
  } catch {
    // not up yet
  }
}, 1000);
timer.unref();

up.on('exit', (code) => {
  clearInterval(timer);
  console.log(`[traffic] ${ok} ok, ${failed} failed`);
  process.exit(code ?? 0);
});
