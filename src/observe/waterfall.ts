import type { SpanRecord } from './types.ts';

type WaterfallSpan = Pick<
  SpanRecord,
  | 'spanId'
  | 'parentSpanId'
  | 'service'
  | 'operation'
  | 'startTimeUnixNano'
  | 'durationNs'
  | 'status'
  | 'traceId'
>;

/** `812 ns`, `41.3 µs`, `12.5 ms`, `1.25 s`. */
export function formatDuration(ns: number): string {
  if (ns < 1_000) return `${ns} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(1)} µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(1)} ms`;
  return `${(ns / 1_000_000_000).toFixed(2)} s`;
}

function fit(text: string, width: number): string {
  if (text.length <= width) return text.padEnd(width);
  return `${text.slice(0, Math.max(0, width - 1))}…`;
}

/**
 * A trace as text for the terminal: one line per span, as a tree by parent (children by start
 * time), with a bar placed and sized against the whole trace's duration. Spans whose parent is not
 * in the set (not received, or sampled out) start their own tree, marked `⋯`. Error spans are
 * drawn with `▒` and flagged `!`.
 */
export function renderWaterfall(spans: readonly WaterfallSpan[], width = 100): string {
  if (spans.length === 0) return '(no spans)\n';
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const children = new Map<string, WaterfallSpan[]>();
  const roots: WaterfallSpan[] = [];
  for (const s of spans) {
    if (s.parentSpanId && byId.has(s.parentSpanId) && s.parentSpanId !== s.spanId) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else roots.push(s);
  }
  const start = (s: WaterfallSpan) => BigInt(s.startTimeUnixNano);
  const byStart = (a: WaterfallSpan, b: WaterfallSpan) =>
    start(a) < start(b) ? -1 : start(a) > start(b) ? 1 : 0;
  let t0 = start(spans[0] as WaterfallSpan);
  let t1 = t0;
  for (const s of spans) {
    const b = start(s);
    if (b < t0) t0 = b;
    const e = b + BigInt(s.durationNs);
    if (e > t1) t1 = e;
  }
  const total = Math.max(1, Number(t1 - t0));

  const durWidth = 10;
  const labelWidth = Math.min(60, Math.max(20, Math.floor(width * 0.4)));
  const barWidth = Math.max(10, width - labelWidth - durWidth - 4);
  const services = new Set(spans.map((s) => s.service));
  const lines = [
    `trace ${spans[0]?.traceId ?? ''}  ${spans.length} spans  ${services.size} services  ${formatDuration(total)}`,
  ];

  const visited = new Set<string>();
  const draw = (s: WaterfallSpan, depth: number, orphan: boolean): void => {
    if (visited.has(s.spanId)) return; // a malformed trace may loop
    visited.add(s.spanId);
    const error = s.status === 'error';
    const label = `${'  '.repeat(depth)}${orphan ? '⋯ ' : ''}${s.service}: ${s.operation}`;
    const offset = Math.min(barWidth - 1, Math.floor((Number(start(s) - t0) / total) * barWidth));
    const length = Math.max(1, Math.min(barWidth - offset, Math.round((s.durationNs / total) * barWidth)));
    const bar =
      ' '.repeat(offset) + (error ? '▒' : '█').repeat(length) + ' '.repeat(barWidth - offset - length);
    lines.push(
      `${fit(label, labelWidth)} │${bar}│ ${formatDuration(s.durationNs).padStart(durWidth - 1)}${error ? ' !' : ''}`,
    );
    for (const c of (children.get(s.spanId) ?? []).sort(byStart)) draw(c, depth + 1, false);
  };
  for (const r of roots.sort(byStart)) draw(r, 0, Boolean(r.parentSpanId));
  return `${lines.join('\n')}\n`;
}
