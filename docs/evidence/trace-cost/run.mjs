// What one trace a second costs a plain Node service with Rampart's tracing preload, in one
// process pair (front -> leaf) at 60 requests a second (session 20):
//   node docs/evidence/trace-cost/run.mjs off|untraced|traced [seconds]
//   CTX=async-hooks node docs/evidence/trace-cost/run.mjs traced   (AsyncLocalStorage instead)
// untraced: every request carries a not-sampled traceparent; traced: every 60th a sampled one.
// Prints each process's CPU in ms per second (from /proc, 10 ms ticks), and the latency of the
// traced and untraced requests. Spans go to a local collector that only counts bytes.
import http from 'node:http';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const mode = process.argv[2]; // off | untraced | traced
const seconds = Number(process.argv[3] ?? 30);
const preload = fileURLToPath(new URL('../../../src/observe/preload/register.cjs', import.meta.url));
const service = fileURLToPath(new URL('service.cjs', import.meta.url));
let spans = 0;
const collector = http.createServer((req, res) => {
  let n = 0;
  req.on('data', (c) => (n += c.length));
  req.on('end', () => {
    spans += n;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
await new Promise((r) => collector.listen(0, '127.0.0.1', r));
const env = (port, up, name) => ({
  ...process.env,
  PORT: String(port),
  UP_URL: up ?? '',
  RAMPART_SERVICE: name,
  NODE_OPTIONS: `--require ${preload} ${process.env.EXTRA_NODE_OPTIONS ?? ''}`,
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.address().port}`,
  ...(mode === 'off' ? { RAMPART_TRACING: 'off' } : {}),
  ...(process.env.CTX ? { RAMPART_TRACE_CONTEXT: process.env.CTX } : {}),
});
const start = (port, up, name) =>
  new Promise((resolve) => {
    const p = spawn(process.execPath, [service], {
      env: env(port, up, name),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    p.stdout.once('data', () => resolve(p));
  });
const leaf = await start(47101, undefined, 'leaf');
const front = await start(47100, 'http://127.0.0.1:47101/x', 'front');
const cpu = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const send = (i) =>
  new Promise((resolve) => {
    const traced = mode === 'traced' && i % 60 === 0;
    const hex = (n, w) => n.toString(16).padStart(w, '0');
    const tp = `00-${hex(i + 1, 32)}-${hex(i + 1, 16)}-${traced ? '01' : '00'}`;
    const t = performance.now();
    const req = http.request(
      'http://127.0.0.1:47100/x',
      { method: 'POST', agent, headers: { traceparent: tp } },
      (res) => {
        res.resume();
        res.on('end', () => resolve([traced, performance.now() - t]));
      },
    );
    req.end(JSON.stringify({ order: i, pad: 'x'.repeat(300) }));
  });
// warm-up 10 s, then measure
const run = async (secs) => {
  const out = [];
  const t0 = performance.now();
  const ps = [];
  for (let i = 0; i < secs * 60; i++) {
    const due = t0 + i * (1000 / 60);
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    ps.push(send(i).then((x) => out.push(x)));
  }
  await Promise.all(ps);
  return out;
};
await run(10);
const c0 = [cpu(front.pid), cpu(leaf.pid)];
const out = await run(seconds);
await new Promise((r) => setTimeout(r, 1500));
const c1 = [cpu(front.pid), cpu(leaf.pid)];
const lat = (f) => {
  const a = out
    .filter(f)
    .map((x) => x[1])
    .sort((a, b) => a - b);
  return a.length
    ? `n ${a.length} p50 ${a[Math.floor(a.length / 2)].toFixed(2)} p99 ${a[Math.floor(a.length * 0.99)].toFixed(2)}`
    : '-';
};
console.log(
  `${mode}${process.env.CTX ? '/' + process.env.CTX : ''}: cpu ms/s front ${((c1[0] - c0[0]) / seconds).toFixed(1)} leaf ${((c1[1] - c0[1]) / seconds).toFixed(1)}; traced ${lat((x) => x[0])}; untraced ${lat((x) => !x[0])}; export bytes ${spans}`,
);
front.kill();
leaf.kill();
collector.close();
process.exit(0);
