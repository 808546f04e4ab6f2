import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { decodeTraces, readOtlpBody } from '../otlp.ts';

const require = createRequire(import.meta.url);
interface ExportResult {
  code: number;
  error?: Error;
}
interface JsonExporter {
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}
const { createJsonExporter, tracesJson } = require('./export.cjs') as {
  createJsonExporter(o: {
    url: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
    retries?: number;
  }): JsonExporter;
  tracesJson(spans: ReadableSpan[]): string;
};
// The reference: the OpenTelemetry exporter's own protobuf serializer (what the preload used before).
const { ProtobufTraceSerializer } = createRequire(
  require.resolve('@opentelemetry/exporter-trace-otlp-proto'),
)('@opentelemetry/otlp-transformer') as {
  ProtobufTraceSerializer: { serializeRequest(spans: ReadableSpan[]): Uint8Array };
};

/** Spans with everything OTLP carries: kinds, parents, a tracestate, events, links, all value types. */
function sampleSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'checkout', 'process.pid': 42 }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('scope-a', '1.2.3');
  const other = provider.getTracer('scope-b');
  const root = tracer.startSpan('POST /v1/assessments', {
    kind: SpanKind.SERVER,
    startTime: [1_764_000_000, 123_456_789],
    attributes: {
      'http.request.method': 'POST',
      'http.response.status_code': 201,
      ratio: 0.25,
      big: 2 ** 60,
      ok: true,
      tags: ['a', 'b'],
      counts: [1, 2, 3],
    },
  });
  root.addEvent('queued', { depth: 3 }, [1_764_000_000, 200_000_000]);
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream failed' });
  const parent = {
    traceId: root.spanContext().traceId,
    spanId: root.spanContext().spanId,
    traceFlags: TraceFlags.SAMPLED,
    traceState: new TraceState('ot=th:c'),
  };
  const ctx = trace.setSpanContext(ROOT_CONTEXT, parent);
  const child = other.startSpan(
    'SELECT orders',
    {
      kind: SpanKind.CLIENT,
      startTime: [1_764_000_000, 5],
      links: [{ context: { ...parent, spanId: 'b7ad6b7169203331' }, attributes: { why: 'batch' } }],
    },
    ctx,
  );
  child.setStatus({ code: SpanStatusCode.OK });
  child.end([1_764_000_001, 0]);
  root.end([1_764_000_000, 987_654_321]);
  return memory.getFinishedSpans();
}

describe('preload exporter (OTLP/JSON)', () => {
  it('GIVEN spans with every OTLP field WHEN encoded THEN the receiver reads exactly what the stock protobuf serializer gives', () => {
    const spans = sampleSpans();
    const json = Buffer.from(tracesJson(spans));
    const viaJson = decodeTraces(readOtlpBody({ body: json, contentType: 'application/json' }).bytes, 'json');
    const proto = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans));
    const viaProto = decodeTraces(proto, 'protobuf');
    assert.equal(viaJson.rejected, 0, viaJson.errorMessage);
    assert.equal(viaJson.spans.length, 2);
    assert.deepEqual(viaJson.spans, viaProto.spans);
    const root = viaJson.spans.find((s) => s.operation === 'POST /v1/assessments')!;
    assert.equal(root.startTimeUnixNano, '1764000000123456789'); // exact: more digits than a double holds
    assert.equal(root.durationNs, 864_197_532);
    assert.equal(root.attributes.big, '1152921504606846976'); // int64, exact
    assert.equal(root.status, 'error');
    assert.equal(root.statusMessage, 'upstream failed');
    assert.equal(root.service, 'checkout');
    const child = viaJson.spans.find((s) => s.operation === 'SELECT orders')!;
    assert.equal(child.parentSpanId, root.spanId);
    assert.equal(child.kind, 'client');
    // The OTLP/JSON rules themselves: hex ids, integer enums, times as strings.
    const raw = JSON.parse(json.toString()) as {
      resourceSpans: { scopeSpans: { scope: { name: string }; spans: Record<string, unknown>[] }[] }[];
    };
    const scopes = raw.resourceSpans[0]!.scopeSpans;
    assert.deepEqual(
      scopes.map((s) => s.scope.name),
      ['scope-b', 'scope-a'],
    );
    const rawChild = scopes[0]!.spans[0]!;
    assert.equal(rawChild.kind, 3);
    assert.equal(rawChild.traceState, 'ot=th:c');
    assert.equal(rawChild.startTimeUnixNano, '1764000000000000005');
    assert.match(String(rawChild.traceId), /^[0-9a-f]{32}$/);
  });

  describe('sending', () => {
    let server: Server;
    let url: string;
    const answers: number[] = [];
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    before(async () => {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          received.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
          const status = answers.shift() ?? 200;
          res.writeHead(status, status === 503 ? { 'retry-after': '0' } : {}).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/traces`;
    });
    after(() => server.close());

    const exportOnce = (exporter: JsonExporter) =>
      new Promise<ExportResult>((resolve) => exporter.export(sampleSpans(), resolve));

    it('GIVEN a receiver WHEN spans are exported THEN one JSON POST with the configured headers succeeds', async () => {
      received.length = 0;
      const exporter = createJsonExporter({ url, headers: { authorization: 'Bearer t' } });
      assert.deepEqual(await exportOnce(exporter), { code: 0 });
      assert.equal(received.length, 1);
      assert.equal(received[0]!.headers['content-type'], 'application/json');
      assert.equal(received[0]!.headers.authorization, 'Bearer t');
      assert.equal(decodeTraces(Buffer.from(received[0]!.body), 'json').spans.length, 2);
      await exporter.shutdown();
    });

    it('GIVEN a receiver answering 503 with Retry-After WHEN exported THEN it is retried and succeeds', async () => {
      received.length = 0;
      answers.push(503);
      const exporter = createJsonExporter({ url });
      assert.deepEqual(await exportOnce(exporter), { code: 0 });
      assert.equal(received.length, 2);
      await exporter.shutdown();
    });

    it('GIVEN a receiver refusing the payload (400) WHEN exported THEN the export fails without a retry', async () => {
      received.length = 0;
      answers.push(400);
      const exporter = createJsonExporter({ url });
      const result = await exportOnce(exporter);
      assert.equal(result.code, 1);
      assert.match(String(result.error?.message), /answered 400/);
      assert.equal(received.length, 1);
      await exporter.shutdown();
    });

    it('GIVEN no receiver WHEN exported THEN it fails after its retries and never throws', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as { port: number }).port;
      await new Promise((resolve) => closed.close(resolve));
      const exporter = createJsonExporter({ url: `http://127.0.0.1:${port}/v1/traces`, retries: 1 });
      const result = await exportOnce(exporter);
      assert.equal(result.code, 1);
      assert.match(String((result.error as NodeJS.ErrnoException | undefined)?.code), /ECONNREFUSED/);
      await exporter.shutdown();
    });

    it('GIVEN an endpoint that is not http(s) WHEN the exporter is made THEN it says which URL', () => {
      assert.throws(() => createJsonExporter({ url: 'grpc://collector:4317' }), /grpc:\/\/collector:4317/);
    });
  });
});
