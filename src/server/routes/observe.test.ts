import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import Fastify, { type FastifyInstance } from 'fastify';
import protobuf from 'protobufjs';
import { Observability, type StoredLog } from '../../observe/index.ts';
import { registerObserveRoutes } from './observe.ts';

let app: FastifyInstance;
let observe: Observability;
let base: string;

before(async () => {
  observe = new Observability();
  // The control API's own small limit: the observe scope must raise it for OTLP and _bulk.
  app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  registerObserveRoutes(app, { observe, maxBodyBytes: 4 << 20, clusterUuid: 'test-uuid' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});

after(async () => {
  await app.close();
  await observe.close();
});

async function exportWith(
  Exporter: typeof ProtoExporter | typeof HttpJsonExporter,
  service: string,
): Promise<string> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': service,
      'rampart.environment': 'test',
      'rampart.replica': '2',
    }),
    spanProcessors: [new BatchSpanProcessor(new Exporter({ url: `${base}/v1/traces` }))],
  });
  const tracer = provider.getTracer('route-test');
  const root = tracer.startSpan('POST /assess', {
    kind: SpanKind.SERVER,
    startTime: [1700000000, 1],
    attributes: { 'http.response.status_code': 200, 'app.big': 2 ** 40 },
  });
  const child = tracer.startSpan(
    'SELECT',
    {
      kind: SpanKind.CLIENT,
      startTime: [1700000000, 500],
      attributes: { 'db.system': 'postgresql', 'server.address': 'maindb' },
    },
    trace.setSpan(context.active(), root),
  );
  child.addEvent('retry', { attempt: 2 });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'deadlock detected' });
  child.end([1700000000, 2_000_500]);
  root.end([1700000000, 10_000_001]);
  await provider.forceFlush();
  await provider.shutdown();
  return root.spanContext().traceId;
}

describe('OTLP receiver with the real OpenTelemetry JS exporters', () => {
  for (const [name, Exporter] of [
    ['protobuf', ProtoExporter],
    ['JSON', HttpJsonExporter],
  ] as const) {
    it(`GIVEN the ${name} exporter WHEN it exports a trace THEN every span is stored as sent`, async () => {
      const traceId = await exportWith(Exporter, `svc-${name}`);
      const spans = observe.traces.getTrace(traceId);
      assert.equal(spans.length, 2);
      const [root, child] = spans;
      assert.equal(root?.service, `svc-${name}`);
      assert.equal(root?.environment, 'test');
      assert.equal(root?.replica, '2');
      assert.equal(root?.kind, 'server');
      assert.equal(root?.startTimeUnixNano, '1700000000000000001');
      assert.equal(root?.durationNs, 10_000_000);
      assert.deepEqual(root?.attributes, { 'http.response.status_code': 200, 'app.big': 2 ** 40 });
      assert.equal(child?.parentSpanId, root?.spanId);
      assert.equal(child?.kind, 'client');
      assert.equal(child?.status, 'error');
      assert.equal(child?.statusMessage, 'deadlock detected');
      assert.equal(child?.events, 1);
      assert.equal(child?.durationNs, 2_000_000);
    });
  }
});

describe('OTLP receiver errors', () => {
  const span = (traceId: string) => ({
    traceId,
    spanId: '00f067aa0ba902b7',
    name: 'x',
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000000000001',
  });
  const body = (spans: unknown[]) => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
  const Status = () => {
    const root = protobuf.Root.fromJSON({
      nested: { Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 } } } },
    });
    return root.lookupType('Status');
  };

  it('GIVEN some invalid spans WHEN posted THEN 200 with partialSuccess and the valid spans stored', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'application/json' },
      payload: body([span('4bf92f3577b34da6a3ce929d0e0e4736'), span('0'.repeat(32))]),
    });
    assert.equal(res.statusCode, 200);
    const answer = res.json() as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    assert.equal(answer.partialSuccess.rejectedSpans, '1');
    assert.match(answer.partialSuccess.errorMessage, /traceId must be 16 bytes, not all zero/);
    assert.equal(observe.traces.getTrace('4bf92f3577b34da6a3ce929d0e0e4736').length, 1);
  });

  it('GIVEN a bad protobuf body WHEN posted THEN 400 with a protobuf google.rpc.Status, nothing stored', async () => {
    const before = observe.traces.count();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'application/x-protobuf' },
      payload: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff]),
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.headers['content-type'], 'application/x-protobuf');
    const status = Status().toObject(Status().decode(res.rawPayload)) as { code: number; message: string };
    assert.equal(status.code, 3);
    assert.match(status.message, /^invalid protobuf ExportTraceServiceRequest/);
    assert.equal(observe.traces.count(), before);
  });

  it('GIVEN bodies too large (raw or inflated) WHEN posted THEN 413', async () => {
    const big = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'application/json' },
      payload: Buffer.alloc(5 << 20, 32),
    });
    assert.equal(big.statusCode, 413);
    assert.equal((big.json() as { code: number }).code, 8);
    const bomb = await app.inject({
      method: 'POST',
      url: '/v1/logs',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
      payload: gzipSync(Buffer.alloc(8 << 20)),
    });
    assert.equal(bomb.statusCode, 413);
    assert.match(
      Status().toObject(Status().decode(bomb.rawPayload)).message as string,
      /larger than 4194304 bytes/,
    );
  });

  it('GIVEN a 2 MiB export WHEN posted THEN it is accepted (above the control API limit)', async () => {
    const spans = Array.from({ length: 2000 }, (_, i) => ({
      ...span('4bf92f3577b34da6a3ce929d0e0e4736'),
      spanId: (i + 1).toString(16).padStart(16, '0'),
      name: 'x'.repeat(900),
    }));
    const payload = body(spans);
    assert.ok(payload.length > 2 << 20);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, '{}');
  });

  it('GIVEN an unknown media type WHEN posted THEN 415', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/metrics',
      headers: { 'content-type': 'text/plain' },
      payload: 'x',
    });
    assert.equal(res.statusCode, 415);
  });

  it('GIVEN OTLP logs and metrics in JSON WHEN posted THEN they are stored', async () => {
    const resource = { attributes: [{ key: 'service.name', value: { stringValue: 'otel-logger' } }] };
    const logs = await app.inject({
      method: 'POST',
      url: '/v1/logs',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({
        resourceLogs: [
          {
            resource,
            scopeLogs: [
              {
                logRecords: [
                  {
                    timeUnixNano: '1700000000000000000',
                    severityText: 'ERROR',
                    body: { stringValue: 'otlp log line' },
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    assert.equal(logs.statusCode, 200);
    assert.deepEqual(
      observe.logs.search({ query: 'service:otel-logger level:error' }).map((l) => l.message),
      ['otlp log line'],
    );
    const metrics = await app.inject({
      method: 'POST',
      url: '/v1/metrics',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({
        resourceMetrics: [
          {
            resource,
            scopeMetrics: [
              {
                metrics: [
                  { name: 'q', gauge: { dataPoints: [{ timeUnixNano: '1700000000000000000', asInt: 3 }] } },
                ],
              },
            ],
          },
        ],
      }),
    });
    assert.equal(metrics.statusCode, 200);
    assert.equal(
      observe.metrics.points({ service: 'otel-logger', name: 'q', since: 0, until: Date.now() })[0]?.value,
      3,
    );
  });
});

describe('Elasticsearch-compatible endpoint', () => {
  it('GIVEN a shipper probing the cluster WHEN GET or HEAD / THEN an Elasticsearch 8 answer with the product header', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-elastic-product'), 'Elasticsearch');
    const info = (await res.json()) as { version: { number: string }; tagline: string; cluster_uuid: string };
    assert.match(info.version.number, /^8\./);
    assert.equal(info.tagline, 'You Know, for Search');
    assert.equal(info.cluster_uuid, 'test-uuid');
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('GIVEN what pino-elasticsearch sends WHEN posted to /_bulk THEN per-item results and searchable lines', async () => {
    // pino-elasticsearch (client.helpers.bulk): `index` actions on the configured index, pino objects with time.
    const lines = [
      {
        level: 30,
        time: '2024-01-01T00:00:00.000Z',
        pid: 1,
        hostname: 'h',
        msg: 'order accepted',
        service: 'orders',
      },
      {
        level: 50,
        time: '2024-01-01T00:00:01.000Z',
        pid: 1,
        hostname: 'h',
        msg: 'card declined: timeout',
        service: 'orders',
      },
    ];
    const payload = lines
      .map((l) => `${JSON.stringify({ index: { _index: 'pino' } })}\n${JSON.stringify(l)}\n`)
      .join('');
    const res = await fetch(`${base}/_bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: payload,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-elastic-product'), 'Elasticsearch');
    const answer = (await res.json()) as {
      took: number;
      errors: boolean;
      items: { index: { status: number; result: string; _index: string } }[];
    };
    assert.equal(answer.errors, false);
    assert.equal(typeof answer.took, 'number');
    assert.deepEqual(
      answer.items.map((i) => [i.index._index, i.index.status, i.index.result]),
      [
        ['pino', 201, 'created'],
        ['pino', 201, 'created'],
      ],
    );
    const found = observe.logs.search({ query: 'service:orders level:error "timeout"' });
    assert.deepEqual(
      found.map((l) => [l.message, l.time]),
      [['card declined: timeout', Date.UTC(2024, 0, 1, 0, 0, 1)]],
    );
  });

  it('GIVEN what Filebeat sends (gzip, ECS, filter_path) WHEN posted to /<index>/_bulk THEN the filtered answer', async () => {
    const doc = {
      '@timestamp': '2024-01-01T00:00:02.000Z',
      message: 'disk full',
      log: { level: 'warn' },
      host: { name: 'n1' },
    };
    const payload = gzipSync(
      `${JSON.stringify({ create: {} })}\n${JSON.stringify(doc)}\n${JSON.stringify({ create: {} })}\n[1]\n`,
    );
    const res = await fetch(`${base}/filebeat-8.11.0/_bulk?filter_path=errors,items.*.error,items.*.status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: payload,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      errors: true,
      items: [
        { create: { status: 201 } },
        {
          create: {
            status: 400,
            error: {
              type: 'mapper_parsing_exception',
              reason: 'failed to parse: the document must be a JSON object, found [START_ARRAY]',
              index: 'filebeat-8.11.0',
            },
          },
        },
      ],
    });
    assert.equal(observe.logs.search({ query: 'service:filebeat-8.11.0 "disk full"' }).length, 1);
  });

  it('GIVEN malformed bulk requests WHEN posted THEN Elasticsearch-shaped refusals and nothing stored', async () => {
    const count = observe.logs.count();
    const malformed = await app.inject({
      method: 'POST',
      url: '/_bulk',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: '"nope"\n',
    });
    assert.equal(malformed.statusCode, 400);
    assert.equal((malformed.json() as { error: { type: string } }).error.type, 'illegal_argument_exception');
    const wrongType = await app.inject({
      method: 'POST',
      url: '/_bulk',
      headers: { 'content-type': 'text/plain' },
      payload: 'x\n',
    });
    assert.equal(wrongType.statusCode, 406);
    assert.deepEqual(wrongType.json(), {
      error: 'Content-Type header [text/plain] is not supported',
      status: 406,
    });
    assert.equal(observe.logs.count(), count);
  });
});

describe('query API', () => {
  it('GIVEN stored traces WHEN listed and one read THEN summaries and a waterfall', async () => {
    const traceId = await exportWith(ProtoExporter, 'api-trace');
    const list = (await app.inject({ url: '/v1/observe/traces?service=api-trace&error=true' })).json() as {
      traces: { traceId: string }[];
    };
    assert.deepEqual(
      list.traces.map((t) => t.traceId),
      [traceId],
    );
    const one = (await app.inject({ url: `/v1/observe/traces/${traceId}?width=80` })).json() as {
      waterfall: string;
      spans: unknown[];
    };
    assert.equal(one.spans.length, 2);
    assert.match(one.waterfall, /api-trace: POST \/assess/);
    const missing = await app.inject({ url: `/v1/observe/traces/${'c'.repeat(32)}` });
    assert.equal(missing.statusCode, 404);
    assert.equal((missing.json() as { error: { code: string } }).error.code, 'RAMPART_E_NOT_FOUND');
    const bad = await app.inject({ url: '/v1/observe/traces?minDuration=soon' });
    assert.equal(bad.statusCode, 400);
  });

  it('GIVEN spans of calls WHEN the map is asked for THEN nodes and edges, with flows', async () => {
    const local = new Observability();
    const scoped = Fastify();
    registerObserveRoutes(scoped, {
      observe: local,
      flows: () => [{ from: 'gateway', to: 'audit', connections: 2 }],
    });
    local.ingestSpans({
      spans: [
        {
          traceId: 'd'.repeat(32),
          spanId: '1'.padStart(16, '0'),
          parentSpanId: null,
          service: 'gateway',
          operation: 'GET',
          kind: 'client',
          startTimeUnixNano: `${Date.now()}000000`,
          durationNs: 5_000_000,
          status: 'unset',
          statusMessage: '',
          attributes: {},
          events: 0,
          resource: {},
          environment: 'prod',
          replica: '0',
        },
        {
          traceId: 'd'.repeat(32),
          spanId: '2'.padStart(16, '0'),
          parentSpanId: '1'.padStart(16, '0'),
          service: 'identity',
          operation: 'GET /v',
          kind: 'server',
          startTimeUnixNano: `${Date.now()}000000`,
          durationNs: 4_000_000,
          status: 'unset',
          statusMessage: '',
          attributes: {},
          events: 0,
          resource: {},
          environment: 'prod',
          replica: '0',
        },
      ],
      rejected: 0,
      errorMessage: '',
    });
    const map = (await scoped.inject({ url: '/v1/observe/map?window=1m&environment=prod' })).json() as {
      edges: { from: string; to: string; sources: string[] }[];
    };
    assert.deepEqual(
      map.edges.map((e) => [e.from, e.to, e.sources.join('+')]),
      [
        ['gateway', 'audit', 'flow'],
        ['gateway', 'identity', 'trace'],
      ],
    );
    await scoped.close();
    await local.close();
  });

  it('GIVEN a log search WHEN asked THEN NDJSON oldest first; a bad query is a 400 naming the position', async () => {
    const res = await app.inject({ url: '/v1/observe/logs?query=service:orders&limit=10' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    const lines = res.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as StoredLog);
    assert.deepEqual(
      lines.map((l) => l.message),
      ['order accepted', 'card declined: timeout'],
    );
    const bad = await app.inject({
      url: `/v1/observe/logs?query=${encodeURIComponent('level:error "oops')}`,
    });
    assert.equal(bad.statusCode, 400);
    const error = (bad.json() as { error: { code: string; message: string; details: { column: number } } })
      .error;
    assert.equal(error.code, 'RAMPART_E_BAD_REQUEST');
    assert.match(error.message, /unterminated quote at position 13/);
    assert.equal(error.details.column, 13);
  });

  it('GIVEN a follow request WHEN lines arrive later THEN they stream to the client', async () => {
    const controller = new AbortController();
    const res = await fetch(
      `${base}/v1/observe/logs?query=${encodeURIComponent('"live tail"')}&follow=true`,
      { signal: controller.signal },
    );
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await fetch(`${base}/_bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: `{"index":{"_index":"tail"}}\n{"message":"a live tail line"}\n`,
    });
    const { value } = await reader.read();
    assert.equal(
      (JSON.parse(new TextDecoder().decode(value).trim()) as StoredLog).message,
      'a live tail line',
    );
    controller.abort();
  });
});
