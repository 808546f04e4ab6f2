/**
 * OTLP/HTTP request bodies (OTLP specification 1.x, "OTLP/HTTP"): binary protobuf or JSON, optionally
 * gzip-compressed, for /v1/traces, /v1/logs and /v1/metrics. Pure functions over bytes, so the route
 * stays thin and the decoding is testable without a server.
 */
import { gunzipSync } from 'node:zlib';
import { parseJsonExact, prepareLogsJson, prepareMetricsJson, prepareTraceJson } from './otlp-json.ts';
import {
  normaliseLogRecords,
  normaliseMetrics,
  normaliseSpans,
  type NormalisedMetrics,
  type NormalisedSpans,
  type PbResourceSpans,
} from './otlp-normalise.ts';
import { otlpTypes } from './otlp-proto.ts';
import type protobuf from 'protobufjs';
import type { LogInput } from './types.ts';

export type OtlpSignal = 'traces' | 'logs' | 'metrics';
export type OtlpFormat = 'protobuf' | 'json';

/** A request the receiver refuses as a whole, with the HTTP status OTLP prescribes. */
export class OtlpRequestError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'OtlpRequestError';
  }
}

/** @default 16 MiB, after decompression as well as before. */
export const DEFAULT_MAX_OTLP_BYTES = 16 << 20;

export interface OtlpBody {
  body: Buffer;
  contentType?: string | undefined;
  contentEncoding?: string | undefined;
  maxBytes?: number;
}

/** The format of a content type, or undefined when OTLP/HTTP does not define it. */
export function otlpFormatOf(contentType: string | undefined): OtlpFormat | undefined {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return undefined;
}

/** Checks content type, encoding and size; returns the (decompressed) bytes. */
export function readOtlpBody(input: OtlpBody): { format: OtlpFormat; bytes: Buffer } {
  const maxBytes = input.maxBytes ?? DEFAULT_MAX_OTLP_BYTES;
  const format = otlpFormatOf(input.contentType);
  if (!format) {
    throw new OtlpRequestError(
      415,
      `unsupported content-type ${JSON.stringify(input.contentType ?? '')}: send application/x-protobuf or application/json`,
    );
  }
  if (input.body.length > maxBytes) throw tooLarge(maxBytes);
  const encoding = (input.contentEncoding ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return { format, bytes: input.body };
  if (encoding !== 'gzip') {
    throw new OtlpRequestError(
      415,
      `unsupported content-encoding ${JSON.stringify(encoding)}: send gzip or none`,
    );
  }
  try {
    // maxOutputLength bounds a gzip bomb before it is inflated in memory.
    return { format, bytes: gunzipSync(input.body, { maxOutputLength: maxBytes }) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(maxBytes);
    throw new OtlpRequestError(400, `invalid gzip body: ${(e as Error).message}`);
  }
}

function tooLarge(maxBytes: number): OtlpRequestError {
  return new OtlpRequestError(413, `request body larger than ${maxBytes} bytes: send smaller batches`);
}

function decodeMessage(
  type: protobuf.Type,
  bytes: Buffer,
  format: OtlpFormat,
  prepare: (body: Record<string, unknown>) => Record<string, unknown>,
): Record<string, unknown> {
  if (format === 'protobuf') {
    try {
      return type.decode(bytes) as unknown as Record<string, unknown>;
    } catch (e) {
      throw new OtlpRequestError(400, `invalid protobuf ${type.name}: ${(e as Error).message}`);
    }
  }
  let json: unknown;
  try {
    json = parseJsonExact(bytes.toString('utf8'));
  } catch (e) {
    throw new OtlpRequestError(400, `invalid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new OtlpRequestError(400, `invalid ${type.name}: the body must be a JSON object`);
  }
  try {
    // fromObject ignores unknown fields, as OTLP/JSON receivers must.
    return type.fromObject(prepare(json as Record<string, unknown>)) as unknown as Record<string, unknown>;
  } catch (e) {
    throw new OtlpRequestError(400, `invalid ${type.name}: ${(e as Error).message}`);
  }
}

/** Spans of an export; with `keepValid`, also the valid ones as OTLP messages (for forwarding). */
export function decodeTraces(
  bytes: Buffer,
  format: OtlpFormat,
  opts: { keepValid?: boolean } = {},
): NormalisedSpans {
  const msg = decodeMessage(otlpTypes().traceRequest, bytes, format, prepareTraceJson);
  return normaliseSpans((msg.resourceSpans ?? []) as PbResourceSpans[], opts);
}

export function decodeLogs(bytes: Buffer, format: OtlpFormat, now: number): { records: LogInput[] } {
  const msg = decodeMessage(otlpTypes().logsRequest, bytes, format, prepareLogsJson);
  return { records: normaliseLogRecords((msg.resourceLogs ?? []) as never[], now) };
}

export function decodeMetrics(bytes: Buffer, format: OtlpFormat): NormalisedMetrics {
  const msg = decodeMessage(otlpTypes().metricsRequest, bytes, format, prepareMetricsJson);
  return normaliseMetrics((msg.resourceMetrics ?? []) as never[]);
}

const REJECTED_FIELD: Record<OtlpSignal, string> = {
  traces: 'rejectedSpans',
  logs: 'rejectedLogRecords',
  metrics: 'rejectedDataPoints',
};

export interface EncodedBody {
  contentType: string;
  body: Buffer | string;
}

/**
 * The Export*ServiceResponse, with `partialSuccess` only when something was rejected (OTLP: an empty
 * partial success means full success). JSON follows the proto3 mapping: int64 as a decimal string.
 */
export function encodeExportResponse(
  signal: OtlpSignal,
  format: OtlpFormat,
  result: { rejected: number; errorMessage: string },
): EncodedBody {
  const partial =
    result.rejected > 0 || result.errorMessage !== ''
      ? { [REJECTED_FIELD[signal]]: result.rejected, errorMessage: result.errorMessage }
      : undefined;
  if (format === 'json') {
    const json = partial
      ? { partialSuccess: { ...partial, [REJECTED_FIELD[signal]]: String(result.rejected) } }
      : {};
    return { contentType: 'application/json', body: JSON.stringify(json) };
  }
  const t = otlpTypes();
  const type = signal === 'traces' ? t.traceResponse : signal === 'logs' ? t.logsResponse : t.metricsResponse;
  const body = Buffer.from(type.encode(type.fromObject(partial ? { partialSuccess: partial } : {})).finish());
  return { contentType: 'application/x-protobuf', body };
}

// google.rpc.Code values for the statuses we answer with.
const RPC_CODE: Record<number, number> = { 400: 3, 413: 8, 415: 3, 500: 13 };

/** The error body OTLP/HTTP prescribes: a google.rpc.Status, in the request's encoding. */
export function encodeErrorStatus(httpStatus: number, message: string, format: OtlpFormat): EncodedBody {
  const code = RPC_CODE[httpStatus] ?? 2;
  if (format === 'json') return { contentType: 'application/json', body: JSON.stringify({ code, message }) };
  const type = otlpTypes().status;
  return {
    contentType: 'application/x-protobuf',
    body: Buffer.from(type.encode(type.fromObject({ code, message })).finish()),
  };
}

/** Encodes ResourceSpans (valid spans kept by `decodeTraces`) into one export request, for forwarding. */
export function encodeTraceRequest(resourceSpans: readonly PbResourceSpans[]): Uint8Array {
  const type = otlpTypes().traceRequest;
  // Already protobufjs-shaped (Long times, byte ids): encode as is, no fromObject pass.
  return type.encode({ resourceSpans } as unknown as protobuf.Message).finish();
}
