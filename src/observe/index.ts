export { Observability } from './observability.ts';
export type { ObservabilityOptions } from './observability.ts';
export {
  DEFAULT_MAX_OTLP_BYTES,
  OtlpRequestError,
  decodeLogs,
  decodeMetrics,
  decodeTraces,
  encodeErrorStatus,
  encodeExportResponse,
  encodeTraceRequest,
  otlpFormatOf,
  readOtlpBody,
} from './otlp.ts';
export type { EncodedBody, OtlpBody, OtlpFormat, OtlpSignal } from './otlp.ts';
export type { NormalisedMetrics, NormalisedSpans, PbResourceSpans } from './otlp-normalise.ts';
export { parseJsonExact } from './otlp-json.ts';
export { otlpTypes } from './otlp-proto.ts';
export type { OtlpTypes } from './otlp-proto.ts';
export { TraceStore, compareNs, nsToMs } from './traces.ts';
export type { TraceQuery, TraceRetention, TraceStoreOptions, TraceSummary } from './traces.ts';
export { formatDuration, renderWaterfall } from './waterfall.ts';
export { LogStore, logInputFromLine } from './logs.ts';
export type { LogRetention, LogSearch, LogStoreOptions } from './logs.ts';
export { LEVELS, compileLogQuery, indexedCandidates, parseLogQuery, traceKey } from './log-query.ts';
export { keepFilter, tokenize } from './log-text.ts';
export type { CompileOptions, CompiledLogQuery, FieldOp, LogQueryPlan, QueryTerm } from './log-query.ts';
export {
  levelFromSeverityNumber,
  normaliseLevel,
  parseLogObject,
  parseLogText,
  parseTime,
} from './log-parse.ts';
export type { ParsedLog } from './log-parse.ts';
export { Redactor } from './redact.ts';
export { esError, esRootInfo, filterPath, logInputFromDocument, newDocumentId, parseBulk } from './bulk.ts';
export type { BulkDocument, BulkParse, EsErrorBody } from './bulk.ts';
export { BulkForwarder, OtlpForwarder } from './forward.ts';
export type { ForwarderOptions, ForwarderStats } from './forward.ts';
export { MetricsStore } from './metrics.ts';
export type {
  MetricsRetention,
  MetricsStoreOptions,
  ReplicaPoint,
  ReplicaUsageSample,
  Resolution,
  SeriesPoint,
} from './metrics.ts';
export { LatencyHistogram } from './histogram.ts';
export { PEER_ATTRIBUTES, deriveCalls, peerOf, serviceMap } from './service-map.ts';
export type {
  AddressResolver,
  Call,
  CallSpan,
  FlowEdge,
  NodeKind,
  Red,
  ServiceMap,
  ServiceMapEdge,
  ServiceMapNode,
} from './service-map.ts';
export { ReplicaSampler, cpuPercent, parseProcStat, parseVmRss, readUsage, realProcFs } from './proc.ts';
export type { ProcFs, ReplicaTarget, UsageReading } from './proc.ts';
export { preloadEnvironment, preloadPath } from './preload.ts';
export type { PreloadOptions } from './preload.ts';
export { parseTimeBound } from './time.ts';
export type {
  AttributeValue,
  Attributes,
  LogInput,
  LogLevel,
  MetricPoint,
  SpanKindName,
  SpanRecord,
  SpanStatus,
  StoredLog,
} from './types.ts';
