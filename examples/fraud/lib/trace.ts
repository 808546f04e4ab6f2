/**
 * What a service may ask about tracing without depending on it: the OpenTelemetry API alone (a no-op
 * until something registers a tracer, e.g. Rampart's injected preload), never the SDK.
 */
import { trace, TraceFlags } from '@opentelemetry/api';

/** Whether the code runs inside a span of a sampled trace (a request being traced). */
export function inSampledTrace(): boolean {
  const span = trace.getActiveSpan();
  return span !== undefined && (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0;
}
