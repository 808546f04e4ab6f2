import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  checkTarget,
  parseDurationMs,
  runTraffic,
  runTrafficApart,
  summariseLatency,
  trafficOrders,
} from './traffic.ts';

describe('traffic', () => {
  let server: http.Server;
  let url = '';
  const keys = new Set<string>();
  const traceparents: string[] = [];

  before(async () => {
    // A stand-in gateway: flags disposable-mail orders, 1 in 50 fails, 1 in 7 answers without velocity.
    let n = 0;
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        keys.add(String(req.headers['x-api-key']));
        if (typeof req.headers.traceparent === 'string') traceparents.push(req.headers.traceparent);
        const order = JSON.parse(body) as { customer: { email: string } };
        if (++n % 50 === 0) {
          res.writeHead(503).end('{}');
          return;
        }
        const risky = /mailinator|yopmail|guerrilla|10minute|trashmail|sharklasers|dispostable|maildrop/.test(
          order.customer.email,
        );
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            assessmentId: 'x',
            decision: risky ? 'reject' : 'accept',
            score: risky ? 0.9 : 0.1,
            reasons: n % 7 === 0 ? ['VELOCITY_UNAVAILABLE', 'HIGH_AMOUNT'] : [],
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('GIVEN a target outside loopback and Rampart addresses THEN it is refused', () => {
    assert.throws(() => checkTarget('http://10.0.0.1:8080'), /neither loopback nor a Rampart address/);
    assert.throws(() => checkTarget('http://example.com'), /neither loopback nor a Rampart address/);
    assert.throws(() => checkTarget('https://127.0.0.1'), /only http/);
    assert.equal(checkTarget('http://198.19.0.5:8080').hostname, '198.19.0.5');
    assert.equal(checkTarget('http://localhost:8080').hostname, 'localhost');
  });

  it('GIVEN a count THEN exactly that many orders go out, with each merchant key, and the report adds up', async () => {
    const r = await runTraffic({
      url,
      rate: 400,
      durationMs: 5_000,
      count: 200,
      seed: 3,
      historyOrders: 20_000,
    });
    assert.equal(r.sent, 200);
    assert.equal(r.ok + r.errors, 200);
    assert.equal(r.errors, 4);
    assert.deepEqual(r.errorsByStatus, { '503': 4 });
    // Answers 7, 14, ... 196 lack velocity (none of them is a 503, those are 50, 100, ...).
    assert.equal(r.degraded, 28);
    assert.deepEqual(r.degradedBySignal, { velocity: 28 });
    assert.equal(r.decisions.accept + r.decisions.reject + r.decisions.review, r.ok);
    assert.ok(r.latencyMs.p50 <= r.latencyMs.p99);
    assert.ok([...keys].every((k) => k.startsWith('fk_demo_')));
    assert.ok(r.detection.legit > 0);
  });

  it('GIVEN a duration THEN the run stops in time even with orders left', async () => {
    const orders = trafficOrders({ seed: 4, historyOrders: 20_000 }, 1000);
    const t = performance.now();
    const r = await runTraffic({ url, rate: 100, durationMs: 500, orders });
    assert.ok(performance.now() - t < 2_000);
    assert.ok(r.sent >= 40 && r.sent <= 60, `${r.sent} sent`);
  });

  it('GIVEN a run on its own thread THEN it sends every order and reports as an in-process run does', async () => {
    const orders = trafficOrders({ seed: 5, historyOrders: 20_000 }, 100);
    const r = await runTrafficApart({ url, rate: 200, durationMs: 5_000, orders });
    assert.equal(r.sent, 100);
    assert.equal(r.ok + r.errors, 100);
    assert.equal(r.decisions.accept + r.decisions.reject + r.decisions.review, r.ok);
    assert.ok(r.latencyMs.p50 > 0 && r.latencyMs.p50 <= r.latencyMs.p99);
  });

  it('GIVEN a run on its own thread WHEN the signal aborts THEN it stops early; a bad target fails the promise', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 700);
    const t = performance.now();
    const r = await runTrafficApart({
      url,
      rate: 100,
      durationMs: 10_000,
      historyOrders: 20_000,
      signal: abort.signal,
    });
    assert.ok(performance.now() - t < 5_000);
    assert.ok(r.sent < 200, `${r.sent} sent`);
    await assert.rejects(
      runTrafficApart({ url: 'http://10.0.0.1:8080', rate: 10, durationMs: 100 }),
      /neither loopback nor a Rampart address/,
    );
  });

  it('GIVEN traceEvery THEN every n-th order goes out sampled, the others not, and the latency is split', async () => {
    traceparents.length = 0;
    const orders = trafficOrders({ seed: 6, historyOrders: 20_000 }, 40);
    const r = await runTraffic({ url, rate: 400, durationMs: 5_000, orders, traceEvery: 4 });
    assert.equal(traceparents.length, 40);
    const flags = traceparents.map((t) => {
      assert.match(t, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      return t.endsWith('-01');
    });
    assert.equal(flags.filter(Boolean).length, 10);
    assert.equal(new Set(traceparents.map((t) => t.slice(3, 35))).size, 40, 'a trace id per order');
    assert.ok(r.tracedLatencyMs && r.untracedLatencyMs);
    assert.ok(r.tracedLatencyMs.p50 > 0 && r.untracedLatencyMs.p50 > 0);
    const plain = await runTraffic({ url, rate: 400, durationMs: 5_000, orders: orders.slice(0, 5) });
    assert.equal(plain.tracedLatencyMs, undefined);
    assert.equal(traceparents.length, 40, 'no traceparent without traceEvery');
  });

  it('GIVEN durations and latencies THEN they parse and summarise', () => {
    assert.deepEqual(['30s', '2m', '500ms', '5'].map(parseDurationMs), [30_000, 120_000, 500, 5_000]);
    assert.throws(() => parseDurationMs('soon'), /bad duration/);
    assert.deepEqual(summariseLatency([1, 2, 3, 4]), { p50: 2.5, p95: 3.9, p99: 4, max: 4, mean: 2.5 });
  });
});
