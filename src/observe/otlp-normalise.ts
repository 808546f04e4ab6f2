import { levelFromSeverityNumber, normaliseLevel } from './log-parse.ts';
import { int64ToAttribute, int64ToNumber, int64ToString, type Int64 } from './otlp-proto.ts';
import type {
  AttributeValue,
  Attributes,
  LogInput,
  MetricPoint,
  SpanKindName,
  SpanRecord,
  SpanStatus,
} from './types.ts';

// Shapes of the protobufjs messages we read (decoded or built by fromObject; both have the
// `value` getter for the AnyValue oneof).
interface PbAnyValue {
  value?: string;
  stringValue?: string;
  boolValue?: boolean;
  intValue?: Int64;
  doubleValue?: number;
  arrayValue?: { values?: PbAnyValue[] } | null;
  kvlistValue?: { values?: PbKeyValue[] } | null;
  bytesValue?: Uint8Array;
}
interface PbKeyValue {
  key: string;
  value?: PbAnyValue | null;
}
interface PbResource {
  attributes?: PbKeyValue[];
}
export interface PbSpan {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  parentSpanId?: Uint8Array;
  traceState?: string;
  name?: string;
  kind?: number;
  startTimeUnixNano?: Int64;
  endTimeUnixNano?: Int64;
  attributes?: PbKeyValue[];
  events?: unknown[];
  droppedEventsCount?: number;
  status?: { code?: number; message?: string } | null;
}
export interface PbResourceSpans {
  resource?: PbResource | null;
  schemaUrl?: string;
  scopeSpans?: { scope?: unknown; schemaUrl?: string; spans?: PbSpan[] }[];
}
interface PbLogRecord {
  timeUnixNano?: Int64;
  observedTimeUnixNano?: Int64;
  severityNumber?: number;
  severityText?: string;
  body?: PbAnyValue | null;
  attributes?: PbKeyValue[];
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  eventName?: string;
}
interface PbResourceLogs {
  resource?: PbResource | null;
  scopeLogs?: { logRecords?: PbLogRecord[] }[];
}
interface PbNumberPoint {
  value?: string;
  asDouble?: number;
  asInt?: Int64;
  timeUnixNano?: Int64;
  attributes?: PbKeyValue[];
  count?: Int64;
  sum?: number | null;
}
interface PbMetric {
  name?: string;
  unit?: string;
  data?: string;
  gauge?: { dataPoints?: PbNumberPoint[] } | null;
  sum?: { dataPoints?: PbNumberPoint[] } | null;
  histogram?: { dataPoints?: PbNumberPoint[] } | null;
  exponentialHistogram?: { dataPoints?: PbNumberPoint[] } | null;
  summary?: { dataPoints?: PbNumberPoint[] } | null;
}
interface PbResourceMetrics {
  resource?: PbResource | null;
  scopeMetrics?: { metrics?: PbMetric[] }[];
}

export function anyValueToAttribute(v: PbAnyValue | null | undefined): AttributeValue {
  if (!v) return null;
  switch (v.value) {
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return v.boolValue ?? false;
    case 'intValue':
      return int64ToAttribute(v.intValue);
    case 'doubleValue':
      return v.doubleValue ?? 0;
    case 'arrayValue':
      return (v.arrayValue?.values ?? []).map(anyValueToAttribute);
    case 'kvlistValue': {
      const out: Record<string, AttributeValue> = {};
      for (const kv of v.kvlistValue?.values ?? []) out[kv.key] = anyValueToAttribute(kv.value);
      return out;
    }
    case 'bytesValue':
      return v.bytesValue ? Buffer.from(v.bytesValue).toString('base64') : '';
    default:
      return null;
  }
}

/** Attributes as a flat record: key-value lists become dotted keys (`http.request.header.x`). */
export function flattenAttributes(
  kvs: PbKeyValue[] | undefined,
  into: Attributes = {},
  prefix = '',
): Attributes {
  if (!kvs) return into;
  for (const kv of kvs) {
    const key = prefix + kv.key;
    if (kv.value?.value === 'kvlistValue') flattenAttributes(kv.value.kvlistValue?.values, into, `${key}.`);
    else into[key] = anyValueToAttribute(kv.value);
  }
  return into;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** OTLP: an id of the wrong length or all zeroes is invalid. */
export function validId(bytes: Uint8Array | undefined, size: number): bytes is Uint8Array {
  if (!bytes || bytes.length !== size) return false;
  for (let i = 0; i < size; i++) if (bytes[i] !== 0) return true;
  return false;
}

const KINDS: readonly SpanKindName[] = [
  'unspecified',
  'internal',
  'server',
  'client',
  'producer',
  'consumer',
];
const STATUSES: readonly SpanStatus[] = ['unset', 'ok', 'error'];

/** Exact end - start in nanoseconds for protobufjs longs, without a double on the way. */
function durationNs(start: Int64, end: Int64): number {
  if (typeof start === 'object' && start && typeof end === 'object' && end) {
    const d = (end.high - start.high) * 4294967296 + ((end.low >>> 0) - (start.low >>> 0));
    return d > 0 ? d : 0;
  }
  const d = BigInt(int64ToString(end)) - BigInt(int64ToString(start));
  return d > 0n ? Number(d) : 0;
}

function str(v: AttributeValue | undefined): string | null {
  return v === undefined || v === null ? null : typeof v === 'string' ? v : String(v);
}

export interface NormalisedSpans {
  spans: SpanRecord[];
  rejected: number;
  /** Why spans were rejected (the first few), '' when none were. */
  errorMessage: string;
  /** The valid spans, still grouped as OTLP ResourceSpans (for forwarding), when asked for. */
  valid?: PbResourceSpans[];
}

const MAX_REASONS = 5;

function summarise(rejected: number, reasons: string[], what: string): string {
  if (rejected === 0) return '';
  const more = rejected > reasons.length ? `; and ${rejected - reasons.length} more` : '';
  return `${rejected} ${what} rejected: ${reasons.join('; ')}${more}`;
}

export function normaliseSpans(
  resourceSpans: PbResourceSpans[],
  opts: { keepValid?: boolean } = {},
): NormalisedSpans {
  const spans: SpanRecord[] = [];
  const reasons: string[] = [];
  const valid: PbResourceSpans[] = [];
  let rejected = 0;
  resourceSpans.forEach((rs, ri) => {
    const resource = flattenAttributes(rs.resource?.attributes);
    const service = str(resource['service.name']) ?? 'unknown_service';
    const environment = str(resource['rampart.environment']);
    const replica = str(resource['rampart.replica']);
    const keptScopes: NonNullable<PbResourceSpans['scopeSpans']> = [];
    (rs.scopeSpans ?? []).forEach((ss, si) => {
      const kept: PbSpan[] = [];
      (ss.spans ?? []).forEach((s, i) => {
        let problem: string | undefined;
        if (!validId(s.traceId, 16)) problem = 'traceId must be 16 bytes, not all zero';
        else if (!validId(s.spanId, 8)) problem = 'spanId must be 8 bytes, not all zero';
        else if (s.parentSpanId && s.parentSpanId.length !== 0 && s.parentSpanId.length !== 8)
          problem = 'parentSpanId must be empty or 8 bytes';
        if (problem) {
          rejected++;
          if (reasons.length < MAX_REASONS)
            reasons.push(
              `resourceSpans[${ri}].scopeSpans[${si}].spans[${i}] (${JSON.stringify(s.name ?? '')}): ${problem}`,
            );
          return;
        }
        if (opts.keepValid) kept.push(s);
        const parent = s.parentSpanId && validId(s.parentSpanId, 8) ? hex(s.parentSpanId) : null;
        spans.push({
          traceId: hex(s.traceId as Uint8Array),
          spanId: hex(s.spanId as Uint8Array),
          parentSpanId: parent,
          service,
          operation: s.name ?? '',
          kind: KINDS[s.kind ?? 0] ?? 'unspecified',
          startTimeUnixNano: int64ToString(s.startTimeUnixNano),
          durationNs: durationNs(s.startTimeUnixNano, s.endTimeUnixNano),
          status: STATUSES[s.status?.code ?? 0] ?? 'unset',
          statusMessage: s.status?.message ?? '',
          attributes: flattenAttributes(s.attributes),
          events: (s.events?.length ?? 0) + (s.droppedEventsCount ?? 0),
          resource,
          environment,
          replica,
          ...adjusted(s.traceState),
        });
      });
      if (opts.keepValid && kept.length > 0)
        keptScopes.push({ scope: ss.scope, schemaUrl: ss.schemaUrl, spans: kept });
    });
    if (opts.keepValid && keptScopes.length > 0)
      valid.push({ resource: rs.resource, schemaUrl: rs.schemaUrl, scopeSpans: keptScopes });
  });
  const out: NormalisedSpans = { spans, rejected, errorMessage: summarise(rejected, reasons, 'spans') };
  if (opts.keepValid) out.valid = valid;
  return out;
}

function nanosToMs(v: Int64): number {
  return Math.floor(int64ToNumber(v) / 1e6);
}

export function normaliseLogRecords(resourceLogs: PbResourceLogs[], now: number): LogInput[] {
  const out: LogInput[] = [];
  for (const rl of resourceLogs) {
    const resource = flattenAttributes(rl.resource?.attributes);
    const service = str(resource['service.name']) ?? 'unknown_service';
    for (const sl of rl.scopeLogs ?? []) {
      for (const r of sl.logRecords ?? []) {
        const attributes: Record<string, unknown> = flattenAttributes(r.attributes);
        if (r.eventName) attributes['event.name'] = r.eventName;
        const body = anyValueToAttribute(r.body);
        let message: string;
        if (typeof body === 'string') message = body;
        else if (body && typeof body === 'object' && !Array.isArray(body)) {
          const { message: m, msg, ...rest } = body;
          message = str(m ?? msg ?? null) ?? JSON.stringify(body);
          if (m !== undefined || msg !== undefined) Object.assign(attributes, rest);
        } else message = body === null ? '' : JSON.stringify(body);
        const time = nanosToMs(r.timeUnixNano) || nanosToMs(r.observedTimeUnixNano) || now;
        out.push({
          time,
          service,
          environment: str(resource['rampart.environment']),
          namespace: str(resource['rampart.namespace']),
          replica: str(resource['rampart.replica']),
          level: normaliseLevel(r.severityText) ?? levelFromSeverityNumber(r.severityNumber ?? 0),
          message,
          traceId: validId(r.traceId, 16) ? hex(r.traceId) : null,
          spanId: validId(r.spanId, 8) ? hex(r.spanId) : null,
          attributes,
        });
      }
    }
  }
  return out;
}

export interface NormalisedMetrics {
  points: MetricPoint[];
  rejected: number;
  errorMessage: string;
}

const METRIC_TYPES = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const;

export function normaliseMetrics(resourceMetrics: PbResourceMetrics[]): NormalisedMetrics {
  const points: MetricPoint[] = [];
  const reasons: string[] = [];
  let rejected = 0;
  for (const rm of resourceMetrics) {
    const resource = flattenAttributes(rm.resource?.attributes);
    const service = str(resource['service.name']) ?? 'unknown_service';
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const type = METRIC_TYPES.find((t) => m[t]);
        if (!type) continue;
        for (const p of m[type]?.dataPoints ?? []) {
          const time = nanosToMs(p.timeUnixNano);
          // OTLP metrics data model: points with a zero TimeUnixNano SHOULD be rejected.
          if (time === 0) {
            rejected++;
            if (reasons.length < MAX_REASONS) reasons.push(`${m.name ?? ''}: timeUnixNano is 0`);
            continue;
          }
          const numeric = type === 'gauge' || type === 'sum';
          const value = numeric
            ? p.value === 'asInt'
              ? int64ToNumber(p.asInt)
              : (p.asDouble ?? 0)
            : (p.sum ?? 0);
          points.push({
            service,
            name: m.name ?? '',
            unit: m.unit ?? '',
            type: type === 'exponentialHistogram' ? 'exponential_histogram' : type,
            time,
            value,
            count: numeric ? null : int64ToNumber(p.count),
            attributes: flattenAttributes(p.attributes),
          });
        }
      }
    }
  }
  return { points, rejected, errorMessage: summarise(rejected, reasons, 'data points') };
}

const TWO_56 = 2 ** 56;

/**
 * The adjusted count of a span sampled with OpenTelemetry's consistent probability sampling: its
 * W3C tracestate's `ot=th:<hex>` is the rejection threshold T of 56 bits (hex digits left-aligned,
 * trailing zeros dropped), the sampling probability is (2^56 - T) / 2^56, and the span stands for
 * 1/probability spans. 1 without a (valid) threshold.
 */
export function adjustedCount(traceState: string | undefined | null): number {
  if (!traceState || !traceState.includes('ot=')) return 1;
  for (const member of traceState.split(',')) {
    const entry = member.trim();
    if (!entry.startsWith('ot=')) continue;
    for (const field of entry.slice(3).split(';')) {
      if (!field.startsWith('th:')) continue;
      const th = field.slice(3);
      if (!/^[0-9a-f]{1,14}$/.test(th)) return 1;
      const threshold = Number.parseInt(th.padEnd(14, '0'), 16);
      return TWO_56 / (TWO_56 - threshold);
    }
  }
  return 1;
}

function adjusted(traceState: string | undefined): { weight?: number } {
  const w = adjustedCount(traceState);
  return w === 1 ? {} : { weight: w };
}
