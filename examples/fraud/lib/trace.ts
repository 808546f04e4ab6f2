/**
 * What a service may ask about tracing without depending on it: the OpenTelemetry API alone (a no-op
 * until something registers a tracer, e.g. Rampart's injected preload), never the SDK.
 */
import {
  context,
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Span,
} from '@opentelemetry/api';

const tracer = trace.getTracer('fraud');

/** Whether the code runs inside a span of a sampled trace (a request being traced). */
export function inSampledTrace(): boolean {
  const span = trace.getActiveSpan();
  return span !== undefined && (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0;
}

/** The W3C headers of one call's trace (`traceparent`, `tracestate`), carried inside a batch request. */
export type TraceCarrier = Record<string, string>;

/**
 * The OpenTelemetry SDK's "tracing suppressed" flag. The API does not export it, but its key is a
 * registered symbol (`createContextKey` is `Symbol.for`), so setting it here is the SDK's own
 * `suppressTracing`: instrumentations skip what runs in such a context, and Rampart's preload
 * sends its calls with a "not sampled" traceparent.
 */
const SUPPRESS_TRACING = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/** Runs `fn` with tracing suppressed: a request carrying several traces' calls belongs to none. */
export function untraced<T>(fn: () => T): T {
  return context.with(context.active().setValue(SUPPRESS_TRACING, true), fn);
}

/** Where a client's calls go, for its spans' `server.address` and `server.port`. */
export interface CallPeer {
  address: string;
  port: number;
}

/** The peer of a base URL (`http://velocity:8080`), worked out once per client. */
export function peerOf(baseUrl: string): CallPeer {
  const url = new URL(baseUrl);
  return {
    address: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
  };
}

/**
 * The client side of one call carried in a batch request: a span in the trace of `parent` (the
 * caller's context), and the headers that continue it on the other side (`inCarriedCall`). Its
 * attributes are the HTTP client span's (semantic conventions), as if the call had gone alone.
 */
export function startCarriedCall(
  parent: Context,
  name: string,
  url: string,
  peer: CallPeer,
): { span: Span; carrier: TraceCarrier } {
  const span = tracer.startSpan(
    name,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': 'POST',
        'server.address': peer.address,
        'server.port': peer.port,
        'url.full': url,
      },
    },
    parent,
  );
  const carrier: TraceCarrier = {};
  propagation.inject(trace.setSpan(parent, span), carrier);
  return { span, carrier };
}

/** Ends a call's span with the status its answer had (a 5xx or no answer is an error). */
export function endCall(span: Span, status: number | undefined, message?: string): void {
  if (status !== undefined) span.setAttribute('http.response.status_code', status);
  if (status === undefined || status >= 500)
    span.setStatus({ code: SpanStatusCode.ERROR, ...(message !== undefined && { message }) });
  span.end();
}

/**
 * The server side of a call that came inside a batch request with its trace's headers: `fn` runs
 * in a server span of that trace (so its own calls and statements belong to it), which ends with
 * the call's status. Without a sampled trace in the headers, `fn` runs as it is.
 */
export function inCarriedCall<R extends { status: number }>(
  carrier: TraceCarrier | undefined,
  path: string,
  fn: () => Promise<R>,
): Promise<R> {
  // Not an async function: most calls carry no trace and go straight through, no promise added.
  if (!carrier || typeof carrier.traceparent !== 'string') return fn();
  const parent = propagation.extract(ROOT_CONTEXT, carrier);
  const remote = trace.getSpanContext(parent);
  if (!remote || (remote.traceFlags & TraceFlags.SAMPLED) === 0) return fn();
  return tracer.startActiveSpan(
    `POST ${path}`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'POST', 'url.path': path } },
    parent,
    async (span) => {
      try {
        const reply = await fn();
        endCall(span, reply.status);
        return reply;
      } catch (error) {
        endCall(span, undefined, (error as Error).message);
        throw error;
      }
    },
  );
}
