/* global process, module, require */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/** Sampling of the tracing preload (register.cjs): the OTEL_TRACES_SAMPLER choices and Rampart's adaptive default. */

// New traces a replica starts per second by default (RAMPART_TRACES_PER_SECOND; see adaptiveSampler).
// 1, the target of Jaeger's adaptive sampling and AWS X-Ray's default reservoir: with 5, at 500
// requests a second 1 in 100 was traced, right at the p99, and the fraud stack's p99 went from
// 65-90 ms to 106-124 (decision 0007, session 18).
const DEFAULT_TRACES_PER_SECOND = 1;

/**
 * The standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG; unset, Rampart's adaptive sampler. A
 * ratio keeps whole traces: the root decides, children follow the sampled flag it propagates.
 * Undefined for parentbased_always_on (the SDK's own default: every trace).
 */
function samplerFromEnv(sdk, env, rampartRequire) {
  const name = (env.OTEL_TRACES_SAMPLER || '').trim().toLowerCase();
  if (!name) {
    const perSecond = Number(env.RAMPART_TRACES_PER_SECOND || DEFAULT_TRACES_PER_SECOND);
    return adaptiveSampler(
      sdk,
      Number.isFinite(perSecond) && perSecond >= 0 ? perSecond : DEFAULT_TRACES_PER_SECOND,
      rampartRequire,
    );
  }
  if (name === 'parentbased_always_on') return undefined;
  const arg = Number(env.OTEL_TRACES_SAMPLER_ARG);
  const ratio = () =>
    new sdk.TraceIdRatioBasedSampler(Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1);
  const roots = {
    always_on: () => new sdk.AlwaysOnSampler(),
    always_off: () => new sdk.AlwaysOffSampler(),
    traceidratio: ratio,
  };
  if (roots[name]) return roots[name]();
  const parentBased = /^parentbased_(.+)$/.exec(name);
  if (parentBased && roots[parentBased[1]])
    return new sdk.ParentBasedSampler({ root: roots[parentBased[1]]() });
  process.stderr.write(`rampart preload: OTEL_TRACES_SAMPLER=${name} unknown, every trace is kept\n`);
  return undefined;
}

/**
 * At most `perSecond` new traces a second on average, whole traces kept, whatever the load: a root
 * span is sampled with probability p = min(1, perSecond / root rate) (the rate: see countRoot), and
 * a child follows its parent. The decision is OpenTelemetry's consistent probability sampling: the
 * trace is kept when the trace id's randomness (its last 56 bits) is at or above the rejection
 * threshold (1 - p) * 2^56, and that threshold travels with the trace in the W3C tracestate as
 * `ot=th:<hex>`. Every span of the trace carries it to the control plane, which counts the span as
 * 1/p requests (its adjusted count), so request rates and latencies stay right while tracing costs
 * only ~perSecond traces a second per replica. Under perSecond roots a second every trace is kept
 * and no tracestate is added.
 *
 * An incoming request is decided before any span exists (`decideIncoming`, from the HTTP
 * instrumentation's ignore hook): one that is not traced skips the instrumentation altogether (no
 * attributes, span or context of its own), the most of what tracing costs per request; its outgoing
 * calls carry a `traceparent` with the sampled flag off (`untracedTraceparent`), so the services
 * it calls skip them too and no trace starts half-way.
 */
function adaptiveSampler(sdk, perSecond, rampartRequire) {
  const { SamplingDecision } = sdk;
  const api = rampartRequire('@opentelemetry/api');
  const { TraceState } = rampartRequire('@opentelemetry/core');
  const { randomHex } = require('./tracer.cjs');
  let windowStart = Date.now();
  let roots = 0; // roots seen in the current one-second window
  let lastRate = 0; // roots a second in the window before
  let decided; // a root kept by decideIncoming, for the span about to start for it
  // Probabilities are powers of 2^(1/4) (19% apart), each with its threshold and tracestate made once.
  const levels = new Map();
  const level = (k) => {
    let l = levels.get(k);
    if (!l) {
      const p = 2 ** (-k / 4);
      // 56-bit threshold, rounded to 52 significant bits (a double's), trailing zeros dropped.
      const threshold = BigInt(Math.min(Math.round((1 - p) * 2 ** 52), 2 ** 52 - 1)) << 4n;
      const hex = threshold.toString(16).padStart(14, '0');
      const th = hex.replace(/0+$/, '') || '0';
      l = {
        p,
        // The threshold's high and low 28 bits, to compare a trace id's without a BigInt.
        high: Number.parseInt(hex.slice(0, 7), 16),
        low: Number.parseInt(hex.slice(7), 16),
        state: new TraceState().set('ot', `th:${th}`),
      };
      levels.set(k, l);
    }
    return l;
  };
  /**
   * Counts one more root; the level to decide it at, undefined for "keep" (p = 1). The rate is the
   * larger of the last second's and the roots seen so far in this one, so a burst after a quiet
   * spell is sampled from its first second on (a few traces, not a whole second of them), and
   * under `perSecond` roots a second every trace is kept.
   */
  const countRoot = () => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      lastRate = (roots * 1000) / (now - windowStart);
      windowStart = now;
      roots = 0;
    }
    roots++;
    const rate = Math.max(lastRate, roots);
    if (rate <= perSecond) return undefined;
    return level(Math.min(Math.ceil(-4 * Math.log2(perSecond / rate)), 160));
  };
  /** Whether a trace id's randomness (its last 56 bits, 14 hex digits) is at or above the level's threshold. */
  const keeps = (randomness, l) => {
    const high = Number.parseInt(randomness.slice(0, 7), 16);
    return high > l.high || (high === l.high && Number.parseInt(randomness.slice(7), 16) >= l.low);
  };
  return {
    /**
     * Whether to trace an incoming request, from its `traceparent` header (absent: a new root).
     * A root kept with p < 1 gets its trace id now, decided by that id's randomness as
     * `shouldSample` decides, so that its `ot=th` holds for its own id: a consistent sampler
     * further down (OpenTelemetry's, another vendor's) then keeps it too.
     */
    decideIncoming(traceparent) {
      if (typeof traceparent === 'string' && TRACEPARENT.test(traceparent))
        return (Number.parseInt(traceparent.slice(53, 55), 16) & 1) === 1;
      const l = countRoot();
      if (!l) {
        decided = KEEP;
        return true;
      }
      // The randomness first: a root that is not kept (most, under load) needs no whole id.
      const randomness = randomHex(14);
      if (!keeps(randomness, l)) return false;
      decided = { state: l.state, traceId: randomHex(18) + randomness };
      return true;
    },
    /** The trace id decided for the root about to start (decideIncoming), if any. */
    rootTraceId: () => decided && decided.traceId,
    shouldSample(context, traceId) {
      const parent = api.trace.getSpanContext(context);
      if (parent && api.isSpanContextValid(parent))
        return {
          decision:
            parent.traceFlags & api.TraceFlags.SAMPLED
              ? SamplingDecision.RECORD_AND_SAMPLED
              : SamplingDecision.NOT_RECORD,
        };
      if (decided !== undefined) {
        const kept = decided;
        decided = undefined;
        return {
          decision: SamplingDecision.RECORD_AND_SAMPLED,
          ...(kept.state && { traceState: kept.state }),
        };
      }
      const l = countRoot();
      if (!l) return { decision: SamplingDecision.RECORD_AND_SAMPLED };
      return keeps(traceId.slice(18), l)
        ? { decision: SamplingDecision.RECORD_AND_SAMPLED, traceState: l.state }
        : { decision: SamplingDecision.NOT_RECORD, traceState: l.state };
    },
    toString: () => `RampartAdaptiveSampler{${perSecond}/s}`,
  };
}

const KEEP = { state: undefined, traceId: undefined };
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/;

module.exports = { samplerFromEnv, DEFAULT_TRACES_PER_SECOND };
