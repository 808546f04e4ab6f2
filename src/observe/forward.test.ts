import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import type { Clock } from '../platform/clock.ts';
import { BulkForwarder, OtlpForwarder } from './forward.ts';
import { decodeTraces } from './otlp.ts';
import { otlpTypes } from './otlp-proto.ts';
import type { StoredLog } from './types.ts';

const PROTO = readFileSync(new URL('./fixtures/otel-js-traces.pb', import.meta.url));

interface Received {
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A loopback server answering with the given statuses in turn (the last one repeats). */
async function farEnd(
  answers: { status: number; body?: unknown; headers?: Record<string, string> }[],
): Promise<{
  url: string;
  received: Received[];
  server: Server;
}> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      const a = answers[Math.min(received.length, answers.length) - 1] ?? { status: 200 };
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.body === undefined ? '' : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, received, server };
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

const instantClock: Clock = { now: () => Date.now(), sleep: async () => undefined };

function log(i: number): StoredLog {
  return {
    id: i,
    time: Date.UTC(2024, 0, 1),
    service: 'gateway',
    environment: 'prod',
    namespace: 'default',
    replica: '0',
    stream: 'stdout',
    level: 'error',
    message: `line ${i}`,
    traceId: null,
    spanId: null,
    attributes: { n: i },
  };
}

describe('forwarding', () => {
  it('GIVEN an OTLP endpoint that is busy once WHEN spans are forwarded THEN they arrive after a retry, as protobuf', async () => {
    const far = await farEnd([{ status: 503, headers: { 'retry-after': '0' } }, { status: 200 }]);
    servers.push(far.server);
    const f = new OtlpForwarder({
      url: `${far.url}/v1/traces`,
      headers: { authorization: 'Bearer t' },
      clock: instantClock,
    });
    const decoded = decodeTraces(PROTO, 'protobuf', { keepValid: true });
    f.enqueue(decoded.valid ?? []);
    await f.flush();
    assert.equal(far.received.length, 2);
    const last = far.received[1] as Received;
    assert.equal(last.headers['content-type'], 'application/x-protobuf');
    assert.equal(last.headers.authorization, 'Bearer t');
    assert.deepEqual(
      decodeTraces(last.body, 'protobuf').spans.map((s) => s.startTimeUnixNano),
      decoded.spans.map((s) => s.startTimeUnixNano),
    );
    assert.deepEqual(f.stats(), {
      queued: 0,
      sent: 3,
      dropped: 0,
      failed: 0,
      retries: 1,
      lastError: `${far.url}/v1/traces: HTTP 503`,
    });
    await f.close();
  });

  it('GIVEN a permanent refusal or too many failures WHEN forwarded THEN the batch is dropped and counted', async () => {
    const refusing = await farEnd([{ status: 400 }]);
    const down = await farEnd([{ status: 502 }]);
    servers.push(refusing.server, down.server);
    const valid = decodeTraces(PROTO, 'protobuf', { keepValid: true }).valid ?? [];
    const f1 = new OtlpForwarder({ url: refusing.url, clock: instantClock });
    f1.enqueue(valid);
    await f1.flush();
    assert.equal(refusing.received.length, 1);
    assert.equal(f1.stats().failed, 3);
    const f2 = new OtlpForwarder({ url: down.url, clock: instantClock, maxAttempts: 3 });
    f2.enqueue(valid);
    await f2.flush();
    assert.equal(down.received.length, 3);
    assert.deepEqual([f2.stats().failed, f2.stats().retries], [3, 2]);
  });

  it('GIVEN a full queue WHEN more is enqueued THEN it is dropped and counted, never buffered', async () => {
    const far = await farEnd([{ status: 200, body: { errors: false, items: [] } }]);
    servers.push(far.server);
    const f = new BulkForwarder({ url: `${far.url}/_bulk`, maxQueue: 5, maxBatch: 100, clock: instantClock });
    f.enqueue(Array.from({ length: 8 }, (_, i) => log(i)));
    assert.deepEqual([f.stats().queued, f.stats().dropped], [5, 3]);
    await f.flush();
    assert.equal(f.stats().sent, 5);
  });

  it('GIVEN a _bulk URL answering one item with 429 WHEN logs are forwarded THEN ECS documents, and only that item again', async () => {
    const far = await farEnd([
      {
        status: 200,
        body: {
          errors: true,
          items: [
            { create: { status: 201 } },
            { create: { status: 429, error: { type: 'es_rejected_execution_exception' } } },
            { create: { status: 400, error: { reason: 'mapping' } } },
          ],
        },
      },
      { status: 200, body: { errors: false, items: [{ create: { status: 201 } }] } },
    ]);
    servers.push(far.server);
    const f = new BulkForwarder({ url: `${far.url}/_bulk`, index: 'rampart-prod', clock: instantClock });
    f.enqueue([log(1), log(2), log(3)]);
    await f.flush();
    assert.equal(far.received.length, 2);
    const first = String(far.received[0]?.body).split('\n');
    assert.equal(far.received[0]?.headers['content-type'], 'application/x-ndjson');
    assert.deepEqual(JSON.parse(first[0] as string), { create: { _index: 'rampart-prod' } });
    assert.deepEqual(JSON.parse(first[1] as string), {
      '@timestamp': '2024-01-01T00:00:00.000Z',
      message: 'line 1',
      service: { name: 'gateway', environment: 'prod' },
      rampart: { namespace: 'default', replica: '0', stream: 'stdout' },
      log: { level: 'error' },
      attributes: { n: 1 },
    });
    assert.equal(first.length, 7); // three pairs and the final newline
    assert.equal(JSON.parse(String(far.received[1]?.body).split('\n')[1] as string).message, 'line 2');
    assert.deepEqual([f.stats().sent, f.stats().failed], [2, 1]);
  });

  it('GIVEN forwarded spans WHEN encoded THEN the request is a valid ExportTraceServiceRequest', () => {
    const t = otlpTypes();
    const valid = decodeTraces(PROTO, 'protobuf', { keepValid: true }).valid ?? [];
    const msg = t.traceRequest.toObject(
      t.traceRequest.decode(t.traceRequest.encode({ resourceSpans: valid } as never).finish()),
      {
        longs: String,
      },
    ) as { resourceSpans: { scopeSpans: { spans: { startTimeUnixNano: string }[] }[] }[] };
    assert.equal(msg.resourceSpans[0]?.scopeSpans[0]?.spans.length, 3);
  });
});
