/** Attribute values as stored: OTLP `AnyValue`s with key-value lists flattened into dotted keys. */
export type AttributeValue =
  string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export type SpanKindName = 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type SpanStatus = 'unset' | 'ok' | 'error';

/** One span as Rampart stores it (normalised from OTLP). */
export interface SpanRecord {
  /** 32 lowercase hex characters. */
  traceId: string;
  /** 16 lowercase hex characters. */
  spanId: string;
  parentSpanId: string | null;
  /** Resource `service.name` (`unknown_service` when absent, as the SDKs do). */
  service: string;
  operation: string;
  kind: SpanKindName;
  /** Exact, as a decimal string: nanoseconds do not fit a double. */
  startTimeUnixNano: string;
  durationNs: number;
  status: SpanStatus;
  statusMessage: string;
  attributes: Attributes;
  events: number;
  resource: Attributes;
  /** Resource attribute `rampart.environment`, when the preload set it. */
  environment: string | null;
  /** Resource attribute `rampart.replica`. */
  replica: string | null;
  /**
   * How many spans this one stands for (its adjusted count, 1/sampling probability, from the
   * tracestate's `ot=th:`), for request counts and rates. Absent: 1 (every trace kept).
   */
  weight?: number;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** A log record to store, from any source (journal line, `_bulk` document, OTLP log record). */
export interface LogInput {
  /** Milliseconds since the epoch. */
  time: number;
  service: string;
  environment?: string | null;
  namespace?: string | null;
  replica?: string | null;
  stream?: string | null;
  level?: LogLevel | null;
  message: string;
  traceId?: string | null;
  spanId?: string | null;
  attributes?: Record<string, unknown> | null;
}

export interface StoredLog {
  id: number;
  time: number;
  service: string;
  environment: string | null;
  namespace: string | null;
  replica: string | null;
  stream: string | null;
  level: LogLevel | null;
  message: string;
  traceId: string | null;
  spanId: string | null;
  attributes: Record<string, unknown>;
}

/** A metric data point received over OTLP, reduced to one number (histograms: their sum and count). */
export interface MetricPoint {
  service: string;
  name: string;
  unit: string;
  type: 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';
  /** Milliseconds since the epoch. */
  time: number;
  value: number;
  count: number | null;
  attributes: Attributes;
}
