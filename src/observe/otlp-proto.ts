import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

const FILES = [
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
  'google/rpc/status.proto',
];

export interface OtlpTypes {
  traceRequest: protobuf.Type;
  traceResponse: protobuf.Type;
  logsRequest: protobuf.Type;
  logsResponse: protobuf.Type;
  metricsRequest: protobuf.Type;
  metricsResponse: protobuf.Type;
  status: protobuf.Type;
}

let types: OtlpTypes | undefined;

/** The OTLP message types, loaded from the vendored .proto files on first use (never at import). */
export function otlpTypes(): OtlpTypes {
  if (types) return types;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => PROTO_DIR + target;
  // keepCase false: fields are lowerCamelCase, the names OTLP/JSON uses.
  root.loadSync(FILES, { keepCase: false });
  root.resolveAll();
  const t = (name: string) => root.lookupType(name);
  types = {
    traceRequest: t('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    traceResponse: t('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    logsRequest: t('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
    logsResponse: t('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse'),
    metricsRequest: t('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    metricsResponse: t('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
    status: t('google.rpc.Status'),
  };
  return types;
}

/** A 64-bit integer as protobufjs hands it over: a `long` instance, or a number without it. */
export type Int64 = protobuf.Long | number | string | null | undefined;

const TWO_32 = 4294967296;

function isLong(v: unknown): v is protobuf.Long {
  return typeof v === 'object' && v !== null && 'low' in v && 'high' in v;
}

/** Exact decimal string of a 64-bit value (never through a double). */
export function int64ToString(v: Int64): string {
  if (v === null || v === undefined) return '0';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v) : BigInt(Math.trunc(v)).toString();
  return v.toString();
}

/** Exact value as a bigint. */
export function int64ToBigInt(v: Int64): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'string') return BigInt(v);
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  const unsignedHigh = BigInt(v.high >>> 0);
  const value = (unsignedHigh << 32n) | BigInt(v.low >>> 0);
  return !v.unsigned && v.high < 0 ? value - (1n << 64n) : value;
}

/** Approximate number (fine for milliseconds, durations and counters). */
export function int64ToNumber(v: Int64): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  if (isLong(v))
    return v.unsigned ? (v.high >>> 0) * TWO_32 + (v.low >>> 0) : v.high * TWO_32 + (v.low >>> 0);
  return Number(v);
}

/** An int64 attribute value: a number when exact, else its decimal string. */
export function int64ToAttribute(v: Int64): number | string {
  const n = int64ToNumber(v);
  return Number.isSafeInteger(n) ? n : int64ToString(v);
}
