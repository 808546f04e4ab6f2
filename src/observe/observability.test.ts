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

  it('GIVEN stored spans WHEN the service map is asked for THEN it is built from the window', () => {
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
    observe.tick();
    void observe.close();
  });
});
