/**
 * OTLP/JSON specifics (OTLP specification, "JSON Protobuf Encoding"): trace and span ids are hex
 * strings, not base64 as in the proto3 JSON mapping; 64-bit integers may be strings or numbers.
 */

// A 16+ digit integer literal outside a string may exceed 2^53: JSON.parse would round it. Quote it
// first so it reaches protobufjs (and our Long conversion) as an exact decimal string. String
// literals are matched first so digits inside them are left alone.
const STRING_OR_BIG_INTEGER = /"(?:[^"\\]|\\.)*"|(?<![\d.eE+])-?\d{16,}(?![\d.eE])/g;
// Only a value position (after `:`, `[` or `,`) can start a number. Senders that write 64-bit
// times as strings (the specification's form, and the preload's) never match, and skip the rewrite;
// a match inside a string literal only costs the rewrite, which leaves strings alone.
const MAY_HAVE_BIG_INTEGER = /[:[,]\s*-?\d{16}/;

/** JSON.parse that keeps integers beyond 2^53 exact (as decimal strings). */
export function parseJsonExact(text: string): unknown {
  if (!MAY_HAVE_BIG_INTEGER.test(text)) return JSON.parse(text);
  return JSON.parse(text.replace(STRING_OR_BIG_INTEGER, (m) => (m.charCodeAt(0) === 34 ? m : `"${m}"`)));
}

const HEX = /^[0-9a-fA-F]*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// One byte is never a valid trace or span id: the normaliser rejects it with the right message.
const INVALID_ID = Buffer.alloc(1);

/**
 * An OTLP/JSON id to bytes: hex as the specification says; base64 of the right length is accepted
 * too (some older senders used the proto3 mapping); anything else becomes an invalid id.
 */
export function idFromJson(value: unknown, size: 8 | 16): Buffer | unknown {
  if (typeof value !== 'string') return value;
  if (value === '') return Buffer.alloc(0);
  if (value.length === size * 2 && HEX.test(value)) return Buffer.from(value, 'hex');
  if (BASE64.test(value)) {
    const bytes = Buffer.from(value, 'base64');
    if (bytes.length === size) return bytes;
  }
  return INVALID_ID;
}

type Json = Record<string, unknown>;

function each(list: unknown, fn: (item: Json) => void): void {
  if (!Array.isArray(list)) return;
  for (const item of list) if (item && typeof item === 'object') fn(item as Json);
}

function convertIds(obj: Json, trace: string, span: string, parent?: string): void {
  if (trace in obj) obj[trace] = idFromJson(obj[trace], 16);
  if (span in obj) obj[span] = idFromJson(obj[span], 8);
  if (parent && parent in obj) obj[parent] = idFromJson(obj[parent], 8);
}

/** Converts the hex ids of an ExportTraceServiceRequest (in place) so protobufjs can read it. */
export function prepareTraceJson(body: Json): Json {
  each(body.resourceSpans, (rs) =>
    each(rs.scopeSpans, (ss) =>
      each(ss.spans, (span) => {
        convertIds(span, 'traceId', 'spanId', 'parentSpanId');
        each(span.links, (link) => convertIds(link, 'traceId', 'spanId'));
      }),
    ),
  );
  return body;
}

export function prepareLogsJson(body: Json): Json {
  each(body.resourceLogs, (rl) =>
    each(rl.scopeLogs, (sl) => each(sl.logRecords, (record) => convertIds(record, 'traceId', 'spanId'))),
  );
  return body;
}

const METRIC_DATA = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'];

export function prepareMetricsJson(body: Json): Json {
  each(body.resourceMetrics, (rm) =>
    each(rm.scopeMetrics, (sm) =>
      each(sm.metrics, (metric) => {
        for (const kind of METRIC_DATA) {
          const data = metric[kind];
          if (data && typeof data === 'object') {
            each((data as Json).dataPoints, (point) =>
              each(point.exemplars, (ex) => convertIds(ex, 'traceId', 'spanId')),
            );
          }
        }
      }),
    ),
  );
  return body;
}
