import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startPreloadHarness, type PreloadHarness } from '../../testing/preload-services.ts';
import type { Observability } from '../observability.ts';
import type { SpanRecord } from '../types.ts';

// Tiny services that know nothing about OpenTelemetry, written to a temp dir with no node_modules.
const SERVICE_A_CJS = `
const http = require('http');
const pg = require(process.env.PG_PATH);
const server = http.createServer(async (req, res) => {
  const b = await fetch(process.env.B_URL + '/score').then((r) => r.text());
  const client = new pg.Client({ host: '127.0.0.1', port: Number(process.env.CLOSED_PORT), connectionTimeoutMillis: 1000 });
  const db = await client.connect().then(() => 'connected', (e) => e.code);
  res.end(JSON.stringify({ b, db }));
});
// A service with its own SIGTERM handler: it exits through process.exit().
process.on('SIGTERM', () => server.close(() => process.exit(0)));
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
`;

const SERVICE_B_ESM = `
import { createServer, get } from 'node:http';
const server = createServer((req, res) => {
  get(process.env.C_URL, (r) => { r.resume(); r.on('end', () => res.end('scored')); });
});
// No SIGTERM handler: the default action (death by signal) after the preload's flush.
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
`;

const SERVICE_EXIT_CJS = `
const http = require('http');
const server = http.createServer((req, res) => {
  // Exits right after answering (a job done, a fatal error): its span is still in the batch queue.
  res.on('close', () => setTimeout(() => process.exit(0), 20));
  res.end('bye');
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
`;

// Calls the next service for every request (the next one's URL in B_URL), once it has read the
// request's body (the call starts in the body's 'end' event, as JSON services do).
const SERVICE_FRONT_CJS = `
const http = require('http');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    http.get(process.env.B_URL + '/next', (r) => { r.resume(); r.on('end', () => res.end('ok')); });
  });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
`;

let dir: string;
let harness: PreloadHarness;
let observe: Observability;
let downstream: Server;
let downstreamUrl: string;

function listenPort(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

const startService = (file: string, service: string, extraEnv: Record<string, string>) =>
  harness.start(file, service, extraEnv, { ignorePaths: ['/healthz'] });

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-preload-'));
  writeFileSync(join(dir, 'a.cjs'), SERVICE_A_CJS);
  writeFileSync(join(dir, 'b.mjs'), SERVICE_B_ESM);
  writeFileSync(join(dir, 'exit.cjs'), SERVICE_EXIT_CJS);
  writeFileSync(join(dir, 'front.cjs'), SERVICE_FRONT_CJS);
  harness = await startPreloadHarness(dir);
  observe = harness.observe;
  downstream = createServer((_req, res) => res.end('c'));
  downstreamUrl = `http://127.0.0.1:${await listenPort(downstream)}/c`;
});

after(async () => {
  downstream.close();
  await harness.close();
  rmSync(dir, { recursive: true, force: true });
});

function byKind(spans: SpanRecord[], service: string, kind: SpanRecord['kind']): SpanRecord[] {
  return spans.filter((s) => s.service === service && s.kind === kind);
}

describe('tracing preload', () => {
  it('GIVEN a CommonJS service calling an ESM service WHEN a request crosses both THEN one trace with correct links', async () => {
    // A port nobody listens on, for pg's connection attempt.
    const closed = createServer();
    const closedPort = await listenPort(closed);
    closed.close();
    const b = await startService('b.mjs', 'scoring', { C_URL: downstreamUrl });
    const a = await startService('a.cjs', 'gateway', {
      B_URL: `http://127.0.0.1:${b.port}`,
      PG_PATH: createRequire(import.meta.url).resolve('pg'),
      CLOSED_PORT: String(closedPort),
    });
    const answer = (await (await fetch(`http://127.0.0.1:${a.port}/assess`)).json()) as {
      b: string;
      db: string;
    };
    assert.deepEqual(answer, { b: 'scored', db: 'ECONNREFUSED' });

    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    assert.deepEqual(await exited(a.child), { code: 0, signal: null });
    assert.deepEqual(await exited(b.child), { code: null, signal: 'SIGTERM' });

    const traces = observe.traces.listTraces({ service: 'gateway' });
    assert.equal(traces.length, 1);
    const spans = observe.traces.getTrace(traces[0]?.traceId as string);
    const [gatewayServer] = byKind(spans, 'gateway', 'server');
    const gatewayClients = byKind(spans, 'gateway', 'client');
    const [scoringServer] = byKind(spans, 'scoring', 'server');
    const [scoringClient] = byKind(spans, 'scoring', 'client');
    assert.ok(
      gatewayServer && scoringServer && scoringClient,
      spans.map((s) => `${s.service}/${s.kind}/${s.operation}`).join(', '),
    );
    assert.equal(gatewayServer.parentSpanId, null);
    // The server span's HTTP attributes (stable semantic conventions), its status at the close.
    assert.equal(gatewayServer.operation, 'GET');
    assert.equal(gatewayServer.attributes['http.request.method'], 'GET');
    assert.equal(gatewayServer.attributes['url.path'], '/assess');
    assert.equal(gatewayServer.attributes['server.port'], a.port);
    assert.equal(gatewayServer.attributes['http.response.status_code'], 200);
    assert.equal(gatewayServer.status, 'unset');
    const fetchSpan = gatewayClients.find((s) => s.spanId === scoringServer.parentSpanId);
    assert.ok(fetchSpan, 'the ESM server span is a child of the CommonJS fetch span');
    assert.equal(fetchSpan.parentSpanId, gatewayServer.spanId);
    assert.equal(scoringClient.parentSpanId, scoringServer.spanId);
    const pgSpan = gatewayClients.find(
      (s) => s.attributes['db.system'] === 'postgresql' || s.attributes['db.system.name'] === 'postgresql',
    );
    assert.ok(pgSpan, 'pg is instrumented');
    assert.equal(pgSpan.parentSpanId, gatewayServer.spanId);
    assert.equal(gatewayServer.environment, 'test');
    assert.equal(gatewayServer.replica, '0');
    assert.equal(gatewayServer.resource['rampart.namespace'], 'default');
    assert.equal(gatewayServer.resource['telemetry.distro.name'], 'rampart');
    const healthChecks = observe.traces
      .mapSpans({ since: 0 })
      .filter((s) => s.service === 'scoring' && s.kind === 'server' && s.traceId !== gatewayServer.traceId);
    assert.deepEqual(healthChecks, [], 'RAMPART_TRACE_IGNORE_PATHS leaves health checks out');
  });

  it('GIVEN a service that calls process.exit() right after answering WHEN it exits THEN its span still arrives', async () => {
    const s = await startService('exit.cjs', 'quitter', {});
    assert.equal(await (await fetch(`http://127.0.0.1:${s.port}/bye`)).text(), 'bye');
    assert.deepEqual(await exited(s.child), { code: 0, signal: null });
    const [summary] = observe.traces.listTraces({ service: 'quitter' });
    assert.equal(summary?.rootService, 'quitter');
    assert.equal(summary?.spanCount, 1);
  });

  it('GIVEN more new requests a second than RAMPART_TRACES_PER_SECOND WHEN they are traced THEN whole traces are kept and the map still counts every request', async () => {
    const budget = { RAMPART_TRACES_PER_SECOND: '100' };
    const back = await startService('b.mjs', 'back', { C_URL: downstreamUrl, ...budget });
    const front = await startService('front.cjs', 'front', {
      B_URL: `http://127.0.0.1:${back.port}`,
      ...budget,
    });
    // 200 requests a second for 3 s: the first 100 are kept, then p falls as more arrive in that
    // second, then about 100 a second are kept (p = 0.5), each standing for 2.
    const total = 600;
    const start = performance.now();
    const answers: Promise<string>[] = [];
    for (let i = 0; i < total; i++) {
      const wait = start + i * 5 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      answers.push(fetch(`http://127.0.0.1:${front.port}/order`).then((r) => r.text()));
    }
    assert.deepEqual(new Set(await Promise.all(answers)), new Set(['ok']));
    front.child.kill('SIGTERM');
    back.child.kill('SIGTERM');
    await Promise.all([exited(front.child), exited(back.child)]);

    const spans = observe.traces.mapSpans({ since: 0 });
    const frontServers = spans.filter((s) => s.service === 'front' && s.kind === 'server');
    assert.ok(
      frontServers.length > 250 && frontServers.length < 500,
      `${frontServers.length} of ${total} traces kept`,
    );
    const weighted = frontServers.filter((s) => (s.weight ?? 1) > 1);
    assert.ok(weighted.length > 100, `${weighted.length} traces sampled with a probability under 1`);
    for (const s of weighted) {
      assert.ok(s.weight! > 1 && s.weight! < 2.5, `adjusted count ${s.weight}`);
      // Consistent probability sampling: the threshold that travels with the trace (ot=th, read
      // back as weight = 2^56 / (2^56 - th)) holds for its own id's randomness (its last 56 bits),
      // so any consistent sampler further down keeps it too.
      const threshold = 2 ** 56 * (1 - 1 / s.weight!);
      const randomness = Number.parseInt(s.traceId.slice(18), 16);
      assert.ok(randomness >= threshold - 64, `trace ${s.traceId} kept under its threshold ${threshold}`);
    }
    // Whole traces: the callee's spans are kept with their caller's, with the same weight.
    for (const root of frontServers) {
      const trace = spans.filter((s) => s.traceId === root.traceId);
      const backServer = trace.find((s) => s.service === 'back' && s.kind === 'server');
      const backClient = trace.find((s) => s.service === 'back' && s.kind === 'client');
      assert.ok(backServer && backClient, `trace ${root.traceId} is whole`);
      assert.equal(backServer.weight, root.weight);
    }
    assert.equal(
      spans.filter((s) => s.service === 'back' && s.kind === 'server').length,
      frontServers.length,
      'no trace of back without its caller',
    );
    // Rates from adjusted counts: every request counted, within the sampling's noise.
    const map = observe.serviceMap({ windowMs: 3_600_000 });
    const edge = map.edges.find((e) => e.from === 'front' && e.to === 'back');
    const node = map.nodes.find((n) => n.id === 'front');
    for (const [what, requests] of [
      ['edge front->back', edge?.requests],
      ['node front', node?.requests],
    ] as const)
      assert.ok(
        requests !== undefined && Math.abs(requests - total) < total * 0.2,
        `${what}: ${requests} requests, ${total} sent`,
      );
  });
});
