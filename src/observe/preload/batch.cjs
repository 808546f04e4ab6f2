/* global module, setTimeout, clearTimeout */
'use strict';
/**
 * The tracing preload's batching of finished spans (in place of the SDK's BatchSpanProcessor, for
 * the reason tracer.cjs gives: a span's end runs with cold caches, and should touch little).
 *
 * Same contract as the SDK's (OTEL_BSP_*): spans of sampled traces are queued; a batch leaves when
 * `maxBatch` spans are waiting, or `delayMs` after the first one queued; one export at a time;
 * once `maxQueue` spans wait, newer ones are dropped (and counted). `forceFlush()` resolves when
 * every span queued before it has been exported (or failed). On top, it knows what has not been
 * acknowledged yet, queued or in flight: what `process.exit()` would lose (register.cjs sends it
 * synchronously).
 *
 * @param exporter `{ export(spans, done(result)), shutdown(): Promise }`
 * @param o.delayMs OTEL_BSP_SCHEDULE_DELAY
 * @param o.maxBatch OTEL_BSP_MAX_EXPORT_BATCH_SIZE
 * @param o.maxQueue OTEL_BSP_MAX_QUEUE_SIZE
 */
/**
 * OpenTelemetry's defaults for the OTEL_BSP_* variables, the preload's too. The 5 s delay matters
 * here: an export costs its process a few milliseconds of event loop, and exporting every second
 * cost a traced order of the fraud stack ~1.5 ms more at 60/s (bench/README.md, session 15).
 */
const DEFAULTS = Object.freeze({ delayMs: 5000, maxBatch: 512, maxQueue: 4096 });

function createBatcher(exporter, o) {
  const maxBatch = Math.max(1, o.maxBatch);
  const maxQueue = Math.max(maxBatch, o.maxQueue);
  let queue = [];
  let inFlight = [];
  let exporting = false;
  let timer;
  /** forceFlush() callers waiting for the queue to empty. */
  let waiters = [];

  const startTimer = () => {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      exportNext();
    }, o.delayMs);
    if (typeof timer.unref === 'function') timer.unref(); // never what keeps a process alive
  };

  function exportNext() {
    if (exporting) return;
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (queue.length === 0) {
      const done = waiters;
      waiters = [];
      for (const resolve of done) resolve();
      return;
    }
    const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
    queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
    exporting = true;
    inFlight = batch;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      exporting = false;
      inFlight = [];
      if (queue.length >= maxBatch || waiters.length > 0) exportNext();
      else if (queue.length > 0) startTimer();
    };
    try {
      exporter.export(batch, finish);
    } catch {
      finish(); // an exporter that throws loses its batch, never the process
    }
  }

  return {
    /** Queues a finished span of a sampled trace. */
    add(span) {
      if (queue.length >= maxQueue) {
        this.dropped++;
        return;
      }
      queue.push(span);
      if (queue.length >= maxBatch) exportNext();
      else if (!exporting) startTimer();
    },
    /** Spans dropped because the queue was full. */
    dropped: 0,
    forceFlush() {
      return new Promise((resolve) => {
        waiters.push(resolve);
        exportNext();
      });
    },
    shutdown() {
      return this.forceFlush().then(() => exporter.shutdown());
    },
    /** Spans queued or in flight, not yet acknowledged. */
    get unacknowledged() {
      return inFlight.length + queue.length;
    },
    /** Takes them: they are the caller's to send now, and no longer exported from here. */
    takeUnacknowledged() {
      const spans = inFlight.concat(queue);
      inFlight = [];
      queue = [];
      return spans;
    },
  };
}

module.exports = { createBatcher, DEFAULTS };
