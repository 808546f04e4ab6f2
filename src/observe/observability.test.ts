import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { Observability } from './observability.ts';
import { decodeTraces } from './otlp.ts';

const PROTO = readFileSync(new URL('./fixtures/otel-js-traces.pb', import.meta.url));
const servers: Server[] = [];
const dirs: string[] = [];
after(() => {
  for (const s of servers) s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function collector(): Promise<{ url: string; bodies: { path: string; body: Buffer }[] }> {
  const bodies: { path: string; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"errors":false,"items":[]}');
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, bodies };
}

describe('observability backend', () => {
  it('GIVEN forwarding URLs WHEN spans and log lines arrive THEN they are stored and forwarded on close', async () => {
    const far = await collector();
    const dir = mkdtempSync(join(tmpdir(), 'rampart-observe-'));
    dirs.push(dir);
    const observe = new Observability({
      dir,
      forward: { otlpUrl: `${far.url}/v1/traces`, bulkUrl: `${far.url}/_bulk` },
    });
    observe.redact(['topsecret', 'connection reset']);
    observe.ingestSpans(decodeTraces(PROTO, 'protobuf', { keepValid: true }));
    observe.ingestJournalLine({
      time: Date.now(),
      environment: 'prod',
      namespace: 'default',
      service: 'api',
      replica: 0,
      stream: 'stdout',
      message: 'token=topsecret accepted',
    });
    assert.equal(observe.traces.count(), 3);
    assert.deepEqual(
      observe.logs.search().map((l) => l.message),
      ['token=*** accepted'],
    );
    await observe.close();
    assert.deepEqual(
      readdirSync(dir)
        .filter((f) => f.endsWith('.db'))
        .sort(),
      ['logs.db', 'metrics.db', 'traces.db'],
    );
    const spans = far.bodies.find((b) => b.path === '/v1/traces');
    const forwarded = decodeTraces(spans?.body as Buffer, 'protobuf').spans;
    assert.equal(forwarded.length, 3);
    assert.deepEqual(forwarded.map((s) => s.statusMessage).sort(), ['', '', '***']);
    assert.doesNotMatch(String(spans?.body), /connection reset/);
    const bulk = far.bodies.find((b) => b.path === '/_bulk');
    assert.match(String(bulk?.body), /"message":"token=\*\*\* accepted"/);
    assert.doesNotMatch(String(bulk?.body), /topsecret/);
  });

  it('GIVEN stores over their retention WHEN ticked THEN they are pruned in steps, with the event loop free between them', async () => {
    const observe = new Observability({ retention: { traces: { maxSpans: 100 }, logs: { maxLines: 100 } } });
    const now = Date.now();
    const spans = Array.from({ length: 12_000 }, (_, i) => ({
      traceId: (i + 1).toString(16).padStart(32, '0'),
      spanId: '1'.padStart(16, '0'),
      parentSpanId: null,
      service: 'gateway',
      operation: 'POST',
      kind: 'server' as const,
      startTimeUnixNano: ((BigInt(now) - 60_000n + BigInt(i)) * 1_000_000n).toString(),
      durationNs: 1_000_000,
      status: 'unset' as const,
      statusMessage: '',
      attributes: {},
      events: 0,
      resource: { 'service.name': 'gateway' },
      environment: 'prod',
      replica: 'gateway-1',
    }));
    observe.traces.insert(spans);
    observe.ingestLogs(
      Array.from({ length: 12_000 }, (_, i) => ({
        time: now - 60_000 + i,
        service: 'gateway',
        message: `line ${i}`,
      })),
    );
    // Each step deletes at most PRUNE_STEP (5,000): 12,000 → 100 takes three, with turns between.
    let turns = 0;
    const count = () => {
      turns++;
      if (observe.traces.count() > 100) setImmediate(count);
    };
    setImmediate(count);
    await observe.tick();
    assert.equal(observe.traces.count(), 100);
    assert.equal(observe.logs.count(), 100);
    assert.ok(turns >= 2, `the event loop turned ${turns} times while pruning`);
    assert.equal(
      observe.traces.listTraces({ limit: 1 })[0]?.traceId,
      (12_000).toString(16).padStart(32, '0'),
    );
    await observe.close();
  });

  it('GIVEN stored spans WHEN the service map is asked for THEN it is built from the window', async () => {
    const observe = new Observability();
    const decoded = decodeTraces(PROTO, 'protobuf');
    // The fixture's spans are from 2023: shift them into the window.
    const now = BigInt(Date.now()) * 1_000_000n;
    for (const s of decoded.spans) s.startTimeUnixNano = (now - 1_000_000_000n).toString();
    observe.ingestSpans(decoded);
    const map = observe.serviceMap({ windowMs: 60_000 });
    assert.deepEqual(
      map.edges.map((e) => `${e.from}->${e.to}`),
      ['checkout->maindb', 'checkout->payment:8080'],
    );
    await observe.tick();
    void observe.close();
  });
});
