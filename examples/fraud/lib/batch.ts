/**
 * Coalescing ("smart batching"): calls that arrive while earlier work is in flight are gathered
 * and run together as one batch once a slot frees up. An idle caller's call starts at once (on the
 * next turn of the event loop, with whatever else arrived in the same turn), so batching adds no
 * waiting at low rates, and under load the batches grow by themselves, which is exactly when the
 * fixed cost of a round trip (an HTTP exchange, a database statement and its commit) is worth
 * sharing. No timer decides when to send.
 *
 * Used by the gateway for its calls to the other services (one HTTP request carries many
 * assessments' calls) and by the database services (one statement stores or checks many orders).
 *
 * Tracing: a batch runs in the async context of one of its items, so its request or statement
 * belongs to that item's trace (or to none). How an item of a sampled trace travels (`traced`):
 * - `alone` (a runner that cannot carry a trace per item): never in a shared batch, where another
 *   item's request would carry it and its trace would lose the callee's spans while that one
 *   gained them. It leaves at once, outside the `maxConcurrent` slots: sampled items are few (a
 *   handful of traces a second), and one holding a slot would take that share of a saturated
 *   service's batch throughput. But each is a request of its own: the gateway used this until
 *   session 7, and each traced assessment then cost 7-8 requests more, each as costly as a batch.
 * - `lead` (the database services' statements): batched as any other, the batch running in the
 *   context of its first sampled item, so that trace shows the statement that served it. Going
 *   alone would cost a statement (and for audit a WAL flush) per traced item. Every other sampled
 *   item of the batch gets a span of its own for the batch's run (`<name> (batched)`), linked to
 *   the lead's span, so its trace still shows where the time went and which trace holds the
 *   statement.
 * - `carried` (the gateway's calls to other services): batched as any other; the batch runs in its
 *   first item's context and `runBatch` carries each sampled item's trace itself (a batch request
 *   of several calls belongs to no trace, and each call's trace headers travel inside it, see
 *   gateway/client.ts). A batch of one is that item's own request.
 */
import { context, SpanStatusCode, trace, type Context, type Link, type Span } from '@opentelemetry/api';
import { inSampledTrace } from './trace.ts';

const tracer = trace.getTracer('fraud-batch');

/** One item's outcome: a value, or the error that item alone failed with. */
export type Settled<O> = { ok: true; value: O } | { ok: false; error: unknown };

export interface CoalescerOptions {
  /** Most items in one batch. @default 64 */
  maxBatch?: number;
  /** Most batches running at once; further items wait for one to finish. @default 1 */
  maxConcurrent?: number;
  /** Asked at each call, in the caller's context. @default inSampledTrace (a trace being recorded) */
  sampled?: () => boolean;
  /** How a sampled item travels (see above). @default 'alone' */
  traced?: 'alone' | 'lead' | 'carried';
  /** What the batch does, for the span of a sampled item that does not lead (`lead` only). @default 'batch' */
  name?: string;
}

export interface Coalescer<I, O> {
  (item: I): Promise<O>;
  /** Items waiting for a free slot (not yet in a running batch). */
  readonly queued: number;
  /** Batches running now. */
  readonly running: number;
}

/**
 * Wraps `runBatch` (items in, one outcome per item out, in the same order) into a function of one
 * item. A `runBatch` that throws fails every item of its batch with that error.
 */
export function coalesce<I, O>(
  runBatch: (items: I[]) => Promise<Settled<O>[]>,
  options: CoalescerOptions = {},
): Coalescer<I, O> {
  const maxBatch = Math.max(1, options.maxBatch ?? 64);
  const maxConcurrent = Math.max(1, options.maxConcurrent ?? 1);
  const sampled = options.sampled ?? inSampledTrace;
  const traced = options.traced ?? 'alone';
  const alone = traced === 'alone';
  const spanName = `${options.name ?? 'batch'} (batched)`;
  interface Entry {
    item: I;
    resolve: (o: O) => void;
    reject: (e: unknown) => void;
    sampled: boolean;
    /** The context of the call (its trace, if any), for running its batch in. */
    ctx: Context;
  }
  let queue: Entry[] = [];
  let running = 0;
  let scheduled = false;

  /**
   * Spans for the sampled items that do not lead a batch, each in its own trace: the batch's run,
   * linked to the lead's span (whose trace holds the statement). Called in the lead's context.
   */
  const followerSpans = (batch: readonly Entry[], lead: Entry, size: number): Span[] | undefined => {
    const leadSpan = trace.getActiveSpan()?.spanContext();
    const links: Link[] = leadSpan ? [{ context: leadSpan }] : [];
    const spans: Span[] = [];
    for (const e of batch) {
      if (e === lead || !e.sampled) continue;
      spans.push(tracer.startSpan(spanName, { links, attributes: { 'rampart.batch.size': size } }, e.ctx));
    }
    return spans.length > 0 ? spans : undefined;
  };

  /** Runs one batch and settles its items; `slot`: it holds one of the maxConcurrent slots. */
  const dispatch = (batch: Entry[], slot: boolean): void => {
    if (slot) running++;
    let outcomes: Promise<Settled<O>[]>;
    const lead = (traced !== 'carried' && batch.find((e) => e.sampled)) || batch[0]!;
    let followers: Span[] | undefined;
    try {
      const items = batch.map((e) => e.item);
      outcomes = context.with(lead.ctx, () => {
        if (traced === 'lead' && lead.sampled && batch.length > 1)
          followers = followerSpans(batch, lead, items.length);
        return runBatch(items);
      });
    } catch (error) {
      outcomes = Promise.reject(error);
    }
    // The slot is freed before the callers hear back, so the next batch is on its way first.
    const done = (failed: boolean, error?: unknown): void => {
      for (const s of followers ?? []) {
        if (failed)
          s.setStatus({ code: SpanStatusCode.ERROR, message: String((error as Error)?.message ?? error) });
        s.end();
      }
      if (!slot) return;
      running--;
      schedule();
    };
    outcomes.then(
      (results) => {
        done(false);
        batch.forEach((e, i) => {
          const r = results[i];
          if (!r) e.reject(new Error(`batch answered ${results.length} results for ${batch.length} items`));
          else if (r.ok) e.resolve(r.value);
          else e.reject(r.error);
        });
      },
      (error: unknown) => {
        done(true, error);
        for (const e of batch) e.reject(error);
      },
    );
  };

  const flush = (): void => {
    scheduled = false;
    while (queue.length > 0 && running < maxConcurrent) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      dispatch(batch, true);
    }
  };

  // setImmediate, not a microtask: every call made in this turn of the event loop (all the items
  // of one incoming batch request, say) joins the same batch.
  const schedule = (): void => {
    if (scheduled || queue.length === 0 || running >= maxConcurrent) return;
    scheduled = true;
    setImmediate(flush);
  };

  const call = ((item: I) =>
    new Promise<O>((resolve, reject) => {
      const entry: Entry = {
        item,
        resolve,
        reject,
        // `carried`: the runner carries each item's trace itself and asks on its own.
        sampled: traced !== 'carried' && sampled(),
        // The OpenTelemetry context, not an AsyncResource: whatever carries it (the preload's
        // context manager, or none when tracing is off, which answers the root at no cost).
        ctx: context.active(),
      };
      // A call that must go alone leaves at once, beside the batches: it neither waits for nor
      // holds one of their slots (sampled calls are few; holding a slot for one call would cut a
      // saturated service's batch throughput by the share of time that call takes).
      if (alone && entry.sampled) dispatch([entry], false);
      else {
        queue.push(entry);
        schedule();
      }
    })) as Coalescer<I, O>;
  Object.defineProperties(call, {
    queued: { get: () => queue.length },
    running: { get: () => running },
  });
  return call;
}

/** Runs `fn` on every item at once and settles each on its own (the fallback of a failed batch). */
export async function settleEach<I, O>(
  items: readonly I[],
  fn: (item: I) => Promise<O>,
): Promise<Settled<O>[]> {
  return Promise.all(
    items.map((item) =>
      fn(item).then(
        (value): Settled<O> => ({ ok: true, value }),
        (error: unknown): Settled<O> => ({ ok: false, error }),
      ),
    ),
  );
}

/**
 * Holds callers from the first one for the length it was given (`admit(ms)`, or `ms` by default) and
 * lets them all go in one turn of the event loop, so that their work starts together and their
 * calls share batches at every stage after it (the coalescers above only join calls made while
 * earlier ones are in flight; callers that arrive a millisecond apart would otherwise each start
 * a stage of their own). A caller that joins an open window waits for that window, whatever it asks.
 */
export function admissionWindow(ms: number): (windowMs?: number) => Promise<void> {
  let waiting: (() => void)[] | undefined;
  const release = (): void => {
    const w = waiting ?? [];
    waiting = undefined;
    for (const resolve of w) resolve();
  };
  return (windowMs = ms) =>
    new Promise<void>((resolve) => {
      if (waiting) waiting.push(resolve);
      else {
        waiting = [resolve];
        setTimeout(release, windowMs);
      }
    });
}

/**
 * How long a new assessment waits for company: `stepMs` for each other assessment in flight, at
 * most `maxMs`. The number in flight is the rate times the latency (Little's law), so the window
 * grows with the load: a few milliseconds at a gentle rate, where CPU is plentiful and waiting
 * would only add latency, and `maxMs` under load, where fewer, fuller batches save the CPU the
 * latency depends on. 0 when the assessment is alone, or when `stepMs` is 0 (no window).
 */
export function windowFor(othersInFlight: number, stepMs: number, maxMs: number): number {
  return Math.max(0, Math.min(maxMs, stepMs * othersInFlight));
}
