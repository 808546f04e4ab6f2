#!/usr/bin/env node
// `npm start`: checks the host (installing missing Debian packages when root), brings the fraud
// stack (examples/fraud) up through Rampart in the foreground, and sends it gentle merchant traffic
// from the generator, a minute at a time, reporting each minute. Ctrl-C stops it all.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureWebBuilt } from './build-web.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const rampart = [process.execPath, [`${root}/bin/rampart.js`]];
const STACK = process.env.RAMPART_DEMO_STACK ?? `${root}/examples/fraud/rampart.yaml`;
const GATEWAY = process.env.RAMPART_DEMO_URL ?? 'http://127.0.0.1:8080';
const RATE = process.env.RAMPART_DEMO_RATE ?? '10';

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

// The dashboard the daemon serves (`rampart up` prints its URL); built once, rebuilt when web/ changed.
ensureWebBuilt();

const up = spawn(rampart[0], [...rampart[1], 'up', '-f', STACK], { stdio: 'inherit' });
let stopping = false;
let traffic;
// The traffic stops first (it prints its report), then the stack: orders sent while the services
// are stopping would be reported as errors that only the shutdown caused.
function stop() {
  if (stopping) return;
  stopping = true;
  if (traffic && traffic.exitCode === null && traffic.signalCode === null) {
    traffic.once('exit', () => up.kill('SIGINT'));
    traffic.kill('SIGINT');
  } else {
    up.kill('SIGINT');
  }
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

// Gentle traffic once the gateway answers: the generator's labelled orders, one minute per run.
let runs = 0;
async function trafficLoop() {
  while (!stopping) {
    const ready = await fetch(`${GATEWAY}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) {
      await new Promise((r) => setTimeout(r, 2000));
      continue;
    }
    if (runs === 0) {
      console.log(
        `\n[demo] the fraud stack answers on ${GATEWAY}: sending ${RATE} assessments/s (see examples/fraud/README.md)`,
      );
      console.log(
        `[demo] look with: the dashboard at http://127.0.0.1:${process.env.RAMPART_PORT ?? 7420}/ | rampart ps | rampart logs gateway -f | rampart firewall status | rampart alerts\n`,
      );
    }
    runs++;
    traffic = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        `${root}/examples/fraud/generator/traffic.ts`,
        '--url',
        GATEWAY,
        '--rate',
        RATE,
        '--duration',
        '60s',
        '--seed',
        String(runs),
      ],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    await new Promise((r) => traffic.on('exit', r));
  }
}
void trafficLoop();

up.on('exit', (code) => {
  stopping = true;
  traffic?.kill('SIGINT');
  process.exit(code ?? 0);
});
