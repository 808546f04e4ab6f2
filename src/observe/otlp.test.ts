import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  OtlpRequestError,
  decodeLogs,
  decodeMetrics,
  decodeTraces,
  encodeErrorStatus,
  encodeExportResponse,
  readOtlpBody,
} from './otlp.ts';
import { parseJsonExact } from './otlp-json.ts';
import { adjustedCount } from './otlp-normalise.ts';
import { otlpTypes } from './otlp-proto.ts';

// Captured from @opentelemetry/exporter-trace-otlp-proto and -http 0.223 (SDK 2.12): one export of
// three spans (a SERVER root, a CLIENT call, a failing db CLIENT span with an exception event).
const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const PROTO = fixture('otel-js-traces.pb');
const JSON_BODY = fixture('otel-js-traces.json');

function expectError(fn: () => unknown, status: number, message: RegExp): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof OtlpRequestError && e.status === status && message.test(e.message),
  );
}

const hex = (n: number, bytes: number) => n.toString(16).padStart(bytes * 2, '0');

function jsonSpan(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: hex(1, 16),
    spanId: hex(2, 8),
    name: 'op',
    kind: 2,
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000000001000',
    ...over,
  };
}

function jsonTraces(spans: Record<string, unknown>[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
          scopeSpans: [{ scope: { name: 's' }, spans }],
        },
      ],
    }),
  );
}

describe('OTLP trace decoding', () => {
  for (const [format, body] of [
    ['protobuf', PROTO],
    ['json', JSON_BODY],
  ] as const) {
    it(`GIVEN a real OTel JS ${format} export WHEN decoded THEN spans are normalised with exact times`, () => {
      const { spans, rejected, errorMessage } = decodeTraces(body, format);
      assert.equal(rejected, 0);
      assert.equal(errorMessage, '');
      assert.equal(spans.length, 3);
      const root = spans.find((s) => s.operation === 'POST /checkout');
      assert.ok(root);
      assert.equal(root.service, 'checkout');
      assert.equal(root.environment, 'prod');
      assert.equal(root.replica, '1');
      assert.equal(root.kind, 'server');
      assert.equal(root.parentSpanId, null);
      assert.match(root.traceId, /^[0-9a-f]{32}$/);
      assert.match(root.spanId, /^[0-9a-f]{16}$/);
      assert.equal(root.startTimeUnixNano, '1700000000123456789');
      assert.equal(root.durationNs, 1_000_000_000);
      assert.deepEqual(root.attributes, {
        'http.request.method': 'POST',
        'http.response.status_code': 201,
        'url.path': '/checkout',
        'app.ratio': 0.25,
        'app.retry': false,
        'app.tags': ['a', 'b'],
      });
      assert.equal(root.resource['service.version'], '1.4.2');
      const client = spans.find((s) => s.operation === 'GET');
      assert.equal(client?.parentSpanId, root.spanId);
      assert.equal(client?.traceId, root.traceId);
      assert.equal(client?.kind, 'client');
      assert.equal(client?.durationNs, 100_000_001);
      const db = spans.find((s) => s.attributes['db.system'] === 'postgresql');
      assert.equal(db?.status, 'error');
      assert.equal(db?.statusMessage, 'connection reset');
      assert.equal(db?.events, 1);
    });
  }

  it('GIVEN 64-bit times as bare JSON numbers beyond 2^53 WHEN decoded THEN they stay exact', () => {
    const text = jsonTraces([jsonSpan()])
      .toString()
      .replace('"1700000000000000000"', '1700000000123456789')
      .replace('"1700000000000001000"', '1700000000123457789');
    const { spans } = decodeTraces(Buffer.from(text), 'json');
    assert.equal(spans[0]?.startTimeUnixNano, '1700000000123456789');
    assert.equal(spans[0]?.durationNs, 1000);
    assert.deepEqual(
      parseJsonExact(
        '{"a":12345678901234567890,"b":"12345678901234567890","c":0.1234567890123456,"d":-9007199254740993}',
      ),
      {
        a: '12345678901234567890',
        b: '12345678901234567890',
        c: 0.1234567890123456,
        d: '-9007199254740993',
      },
    );
  });

  it('GIVEN invalid trace and span ids WHEN decoded THEN those spans are rejected and the rest kept', () => {
    const body = jsonTraces([
      jsonSpan(),
      jsonSpan({ traceId: '0'.repeat(32), name: 'zero' }),
      jsonSpan({ spanId: 'abcd', name: 'short' }),
      jsonSpan({ traceId: 'zz'.repeat(16), name: 'not-hex' }),
      jsonSpan({ parentSpanId: 'abc', name: 'bad-parent' }),
    ]);
    const r = decodeTraces(body, 'json');
    assert.equal(r.spans.length, 1);
    assert.equal(r.rejected, 4);
    assert.match(r.errorMessage, /^4 spans rejected: /);
    assert.match(r.errorMessage, /spans\[1\] \("zero"\): traceId must be 16 bytes, not all zero/);
    assert.match(r.errorMessage, /spans\[2\] \("short"\): spanId must be 8 bytes/);
    assert.match(r.errorMessage, /"bad-parent"\): parentSpanId must be empty or 8 bytes/);
  });

  it('GIVEN unknown fields (JSON keys, protobuf field numbers) WHEN decoded THEN they are ignored', () => {
    const json = JSON.parse(jsonTraces([jsonSpan({ futureField: { x: 1 } })]).toString());
    json.extra = true;
    json.resourceSpans[0].novel = [1, 2];
    assert.equal(decodeTraces(Buffer.from(JSON.stringify(json)), 'json').spans.length, 1);
    // Field 1000, varint 1, appended to the top-level message.
    const withUnknown = Buffer.concat([PROTO, Buffer.from([0xc0, 0x3e, 0x01])]);
    assert.equal(decodeTraces(withUnknown, 'protobuf').spans.length, 3);
  });

  it('GIVEN malformed bodies WHEN decoded THEN a 400 says why', () => {
    expectError(
      () => decodeTraces(Buffer.from([0x0a, 0xff, 0xff, 0xff]), 'protobuf'),
      400,
      /^invalid protobuf/,
    );
    expectError(() => decodeTraces(Buffer.from('{"resourceSpans": ['), 'json'), 400, /^invalid JSON/);
    expectError(() => decodeTraces(Buffer.from('[1]'), 'json'), 400, /must be a JSON object/);
    expectError(
      () => decodeTraces(Buffer.from('{"resourceSpans": "x"}'), 'json'),
      400,
      /^invalid ExportTraceServiceRequest: .*resourceSpans: array expected/,
    );
  });
});

describe('OTLP request bodies', () => {
  it('GIVEN gzip content-encoding WHEN read THEN the body is inflated', () => {
    const r = readOtlpBody({
      body: gzipSync(PROTO),
      contentType: 'application/x-protobuf',
      contentEncoding: 'gzip',
    });
    assert.equal(r.format, 'protobuf');
    assert.deepEqual(r.bytes, PROTO);
  });

  it('GIVEN a body over the limit, before or after inflating WHEN read THEN 413', () => {
    expectError(
      () => readOtlpBody({ body: Buffer.alloc(2048), contentType: 'application/json', maxBytes: 1024 }),
      413,
      /larger than 1024/,
    );
    const bomb = gzipSync(Buffer.alloc(1 << 20));
    assert.ok(bomb.length < 4096);
    expectError(
      () =>
        readOtlpBody({
          body: bomb,
          contentType: 'application/json',
          contentEncoding: 'gzip',
          maxBytes: 65536,
        }),
      413,
      /larger than 65536/,
    );
  });

  it('GIVEN an unsupported media type or encoding WHEN read THEN 415; a corrupt gzip THEN 400', () => {
    expectError(
      () => readOtlpBody({ body: PROTO, contentType: 'text/plain' }),
      415,
      /content-type "text\/plain"/,
    );
    expectError(
      () => readOtlpBody({ body: PROTO, contentType: 'application/x-protobuf', contentEncoding: 'br' }),
      415,
      /content-encoding "br"/,
    );
    expectError(
      () =>
        readOtlpBody({ body: Buffer.from('nope'), contentType: 'application/json', contentEncoding: 'gzip' }),
      400,
      /^invalid gzip body/,
    );
    assert.equal(
      readOtlpBody({ body: PROTO, contentType: 'application/json; charset=utf-8' }).format,
      'json',
    );
  });
});

describe('OTLP responses', () => {
  it('GIVEN rejected spans WHEN answered in JSON THEN partialSuccess follows the proto3 JSON mapping', () => {
    const body = encodeExportResponse('traces', 'json', { rejected: 2, errorMessage: 'bad ids' });
    assert.deepEqual(JSON.parse(String(body.body)), {
      partialSuccess: { rejectedSpans: '2', errorMessage: 'bad ids' },
    });
    assert.equal(
      String(encodeExportResponse('traces', 'json', { rejected: 0, errorMessage: '' }).body),
      '{}',
    );
  });

  it('GIVEN rejected items WHEN answered in protobuf THEN the response decodes with partial_success', () => {
    const t = otlpTypes();
    const out = encodeExportResponse('logs', 'protobuf', { rejected: 3, errorMessage: 'x' });
    assert.equal(out.contentType, 'application/x-protobuf');
    const msg = t.logsResponse.toObject(t.logsResponse.decode(out.body as Buffer), { longs: Number });
    assert.deepEqual(msg, { partialSuccess: { rejectedLogRecords: 3, errorMessage: 'x' } });
    assert.equal(
      (encodeExportResponse('traces', 'protobuf', { rejected: 0, errorMessage: '' }).body as Buffer).length,
      0,
    );
  });

  it('GIVEN a refused request WHEN answered THEN the body is a google.rpc.Status in the request encoding', () => {
    const t = otlpTypes();
    const pb = encodeErrorStatus(400, 'invalid protobuf', 'protobuf');
    assert.deepEqual(t.status.toObject(t.status.decode(pb.body as Buffer)), {
      code: 3,
      message: 'invalid protobuf',
    });
    assert.deepEqual(JSON.parse(String(encodeErrorStatus(413, 'too large', 'json').body)), {
      code: 8,
      message: 'too large',
    });
  });
});

describe('OTLP logs and metrics decoding', () => {
  const resource = {
    attributes: [
      { key: 'service.name', value: { stringValue: 'api' } },
      { key: 'rampart.environment', value: { stringValue: 'prod' } },
    ],
  };

  it('GIVEN log records (protobuf and JSON) WHEN decoded THEN level, message, trace id and attributes are kept', () => {
    const t = otlpTypes();
    const request = {
      resourceLogs: [
        {
          resource,
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: '1700000000123000000',
                  severityNumber: 17,
                  body: { stringValue: 'payment declined' },
                  attributes: [{ key: 'order.id', value: { intValue: 42 } }],
                  traceId: Buffer.from(hex(7, 16), 'hex'),
                  spanId: Buffer.from(hex(8, 8), 'hex'),
                },
                {
                  observedTimeUnixNano: '1700000000500000000',
                  severityText: 'WARNING',
                  body: {
                    kvlistValue: {
                      values: [
                        { key: 'msg', value: { stringValue: 'slow' } },
                        { key: 'ms', value: { intValue: 900 } },
                      ],
                    },
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const pb = Buffer.from(t.logsRequest.encode(t.logsRequest.fromObject(request)).finish());
    const { records } = decodeLogs(pb, 'protobuf', 0);
    assert.deepEqual(records[0], {
      time: 1700000000123,
      service: 'api',
      environment: 'prod',
      namespace: null,
      replica: null,
      level: 'error',
      message: 'payment declined',
      traceId: hex(7, 16),
      spanId: hex(8, 8),
      attributes: { 'order.id': 42 },
    });
    assert.equal(records[1]?.level, 'warn');
    assert.equal(records[1]?.message, 'slow');
    assert.equal(records[1]?.time, 1700000000500);
    assert.deepEqual(records[1]?.attributes, { ms: 900 });

    const json = JSON.stringify(request, (k, v) => (k === 'traceId' || k === 'spanId' ? undefined : v));
    const fromJson = decodeLogs(
      Buffer.from(json.replace('"severityNumber":17', `"severityNumber":17,"traceId":"${hex(7, 16)}"`)),
      'json',
      0,
    );
    assert.equal(fromJson.records[0]?.traceId, hex(7, 16));
  });

  it('GIVEN gauges, sums and histograms WHEN decoded THEN one value per point; zero times are rejected', () => {
    const body = {
      resourceMetrics: [
        {
          resource,
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'queue.depth',
                  unit: '1',
                  gauge: { dataPoints: [{ timeUnixNano: '1700000000000000000', asInt: '7' }] },
                },
                {
                  name: 'bytes',
                  unit: 'By',
                  sum: {
                    dataPoints: [{ timeUnixNano: '1700000000000000000', asDouble: 1.5 }, { asDouble: 2 }],
                  },
                },
                {
                  name: 'latency',
                  unit: 'ms',
                  histogram: {
                    dataPoints: [
                      {
                        timeUnixNano: '1700000000000000000',
                        count: '4',
                        sum: 10,
                        bucketCounts: ['1', '3'],
                        explicitBounds: [5],
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const r = decodeMetrics(Buffer.from(JSON.stringify(body)), 'json');
    assert.equal(r.rejected, 1);
    assert.match(r.errorMessage, /bytes: timeUnixNano is 0/);
    assert.deepEqual(
      r.points.map((p) => [p.name, p.type, p.value, p.count, p.time]),
      [
        ['queue.depth', 'gauge', 7, null, 1700000000000],
        ['bytes', 'sum', 1.5, null, 1700000000000],
        ['latency', 'histogram', 10, 4, 1700000000000],
      ],
    );
  });
  it('GIVEN spans sampled with a probability WHEN their tracestate carries ot=th THEN their adjusted count is 1/probability', () => {
    // OpenTelemetry's consistent probability sampling: th is the 56-bit rejection threshold.
    assert.equal(adjustedCount('ot=th:c'), 4); // T = 0.75 * 2^56, p = 0.25
    assert.equal(adjustedCount('ot=th:8'), 2);
    assert.equal(adjustedCount('vendor=x,ot=rv:0123456789abcd;th:e'), 8);
    assert.equal(adjustedCount('ot=th:0'), 1);
    assert.equal(Math.round(adjustedCount('ot=th:e6666666666666') * 1000) / 1000, 10); // p = 0.1
    for (const none of [undefined, '', 'vendor=x', 'ot=rv:01', 'ot=th:zz', 'ot=th:123456789abcdef0'])
      assert.equal(adjustedCount(none), 1, String(none));
    // As decoded from an export (OTLP/JSON's traceState; the protobuf field is trace_state = 3).
    const body = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'gateway' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: 'eee19b7ec3c1b174',
                  traceState: 'ot=th:c',
                  name: 'POST',
                  kind: 2,
                  startTimeUnixNano: '1700000000000000000',
                  endTimeUnixNano: '1700000000001000000',
                },
              ],
            },
          ],
        },
      ],
    });
    const [span] = decodeTraces(Buffer.from(body), 'json').spans;
    assert.equal(span?.weight, 4);
  });
});
