// Traces: search (service, operation, minimum duration, errors only) and a waterfall of one trace.
import { describeError } from '../api.ts';
import { clear, fmtMs, h, table } from '../dom.ts';
import type { Span, TraceSummary } from '../types.ts';
import type { View } from './view.ts';

export const tracesView: View = {
  id: 'traces',
  title: 'Traces',
  mount(root, ctx) {
    const env = ctx.environment;
    const service = h('input', {
      id: 'tr-service',
      value: ctx.params.get('service') ?? '',
      placeholder: 'gateway',
    });
    const operation = h('input', { id: 'tr-op', placeholder: 'POST /v1/assess' });
    const minDuration = h('input', { id: 'tr-min', placeholder: '250ms', size: 7 });
    const errors = h('input', { id: 'tr-err', type: 'checkbox' });
    const status = h('p', { class: 'muted', 'aria-live': 'polite' });
    const list = h('div', { class: 'trace-list' });
    const detail = h('section', { class: 'card waterfall-card', 'aria-label': 'Trace waterfall' });
    const form = h(
      'form',
      { class: 'toolbar', role: 'search' },
      h('h1', null, 'Traces'),
      h('label', { for: 'tr-service' }, 'Service'),
      service,
      h('label', { for: 'tr-op' }, 'Operation'),
      operation,
      h('label', { for: 'tr-min' }, 'Min duration'),
      minDuration,
      h('label', { class: 'check' }, errors, 'Errors only'),
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
    );
    root.append(form, status, h('div', { class: 'split' }, list, detail));

    const show = async (traceId: string) => {
      clear(detail);
      detail.append(h('p', { class: 'muted' }, 'Loading…'));
      try {
        const t = await ctx.api.get<{ traceId: string; spans: Span[] }>(`/v1/observe/traces/${traceId}`);
        clear(detail);
        detail.append(h('h2', null, `Trace ${t.traceId.slice(0, 16)}…`), waterfall(t.spans));
      } catch (e) {
        clear(detail);
        detail.append(h('p', { class: 'error' }, describeError(e)));
      }
    };

    const search = async () => {
      status.textContent = 'Searching…';
      try {
        const r = await ctx.api.get<{ traces: TraceSummary[] }>('/v1/observe/traces', {
          environment: env,
          service: service.value.trim() || undefined,
          operation: operation.value.trim() || undefined,
          minDuration: minDuration.value.trim() || undefined,
          error: errors.checked ? 'true' : undefined,
          limit: 100,
        });
        clear(list);
        status.textContent = `${r.traces.length} traces`;
        list.append(
          table(
            'Traces, newest first',
            ['Root', 'Duration', 'Spans', 'Errors', 'Services'],
            r.traces.map((t) => [
              h(
                'button',
                { type: 'button', class: 'link', onclick: () => void show(t.traceId) },
                `${t.rootService} ${t.rootOperation}`,
              ),
              fmtMs(t.durationNs / 1e6),
              String(t.spanCount),
              t.errorCount ? h('span', { class: 'bad' }, String(t.errorCount)) : '0',
              t.services.join(', '),
            ]),
            { class: 'data' },
          ),
        );
        if (r.traces[0]) void show(r.traces[0].traceId);
      } catch (e) {
        status.textContent = describeError(e);
      }
    };
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void search();
    });
    void search();
    return () => undefined;
  },
};

/** Spans as bars on one time axis, children under their parent. */
function waterfall(spans: Span[]): HTMLElement {
  const start = (s: Span) => Number(BigInt(s.startTimeUnixNano) / 1000n) / 1000; // ms, exact enough
  const t0 = Math.min(...spans.map(start));
  const t1 = Math.max(...spans.map((s) => start(s) + s.durationNs / 1e6));
  const total = Math.max(t1 - t0, 0.001);
  const children = new Map<string, Span[]>();
  const ids = new Set(spans.map((s) => s.spanId));
  const roots: Span[] = [];
  for (const s of spans) {
    if (s.parentSpanId && ids.has(s.parentSpanId))
      children.set(s.parentSpanId, [...(children.get(s.parentSpanId) ?? []), s]);
    else roots.push(s);
  }
  const rows: HTMLElement[] = [];
  const walk = (s: Span, depth: number) => {
    const left = ((start(s) - t0) / total) * 100;
    const width = Math.max((s.durationNs / 1e6 / total) * 100, 0.3);
    rows.push(
      h(
        'li',
        { class: `span-row ${s.status === 'error' ? 'error' : ''}` },
        h(
          'span',
          { class: 'span-name', style: `padding-left:${depth * 14}px` },
          h('strong', null, s.service),
          ` ${s.operation}`,
        ),
        h(
          'span',
          { class: 'span-track' },
          h('span', {
            class: 'span-bar',
            style: `left:${left}%;width:${width}%`,
            title: `${fmtMs(s.durationNs / 1e6)} ${s.statusMessage}`,
          }),
        ),
        h('span', { class: 'span-dur' }, fmtMs(s.durationNs / 1e6)),
      ),
    );
    for (const c of (children.get(s.spanId) ?? []).sort((a, b) => start(a) - start(b))) walk(c, depth + 1);
  };
  for (const r of roots.sort((a, b) => start(a) - start(b))) walk(r, 0);
  return h('ol', { class: 'waterfall', 'aria-label': `${spans.length} spans over ${fmtMs(total)}` }, rows);
}
