// Logs: search (the observe log store's query language when it is there, the replica journal
// otherwise) and a live tail over the same NDJSON stream the CLI follows.
import { ApiError, describeError } from '../api.ts';
import { clear, h } from '../dom.ts';
import type { LogLine, Replica } from '../types.ts';
import type { View } from './view.ts';

const MAX_LINES = 2000;

export const logsView: View = {
  id: 'logs',
  title: 'Logs',
  mount(root, ctx) {
    const env = ctx.environment;
    const queryInput = h('input', {
      id: 'log-query',
      type: 'search',
      value: ctx.params.get('query') ?? '',
      placeholder: 'level>=warn timeout -healthz',
    });
    const serviceSelect = h('select', { id: 'log-service' }, h('option', { value: '' }, 'all services'));
    const sinceSelect = h(
      'select',
      { id: 'log-since' },
      ['5m', '15m', '1h', '6h', '24h'].map((s) =>
        h('option', { value: s, selected: s === '15m' }, `last ${s}`),
      ),
    );
    const searchButton = h('button', { type: 'submit', class: 'primary' }, 'Search');
    const tailBox = h('input', { id: 'log-tail', type: 'checkbox' });
    const status = h('p', { class: 'muted', 'aria-live': 'polite', 'data-log-status': '' });
    const out = h('div', { class: 'log-lines', role: 'log', 'aria-label': 'Log lines', tabindex: '0' });
    const form = h(
      'form',
      { class: 'toolbar', role: 'search' },
      h('h1', null, 'Logs'),
      h('label', { for: 'log-query' }, 'Query'),
      queryInput,
      h('label', { for: 'log-service' }, 'Service'),
      serviceSelect,
      h('label', { for: 'log-since', class: 'visually-hidden' }, 'Time range'),
      sinceSelect,
      searchButton,
      h('label', { class: 'check' }, tailBox, 'Live tail'),
    );
    root.append(form, status, out);

    let useJournal = false;
    let follow: AbortController | undefined;
    let count = 0;
    const lineEl = (l: LogLine) =>
      h(
        'div',
        { class: `log-line ${l.level ?? l.stream ?? ''}` },
        h('time', null, new Date(l.time).toISOString().slice(11, 23)),
        h(
          'span',
          { class: 'svc' },
          `${l.service}${l.replica !== undefined && l.replica !== null ? `-${l.replica}` : ''}`,
        ),
        h('span', { class: 'msg' }, l.message),
      );
    const append = (l: LogLine, top = false) => {
      const q = queryInput.value.trim().toLowerCase();
      if (useJournal && q && !l.message.toLowerCase().includes(q)) return;
      const el = lineEl(l);
      if (top) out.prepend(el);
      else out.append(el);
      count++;
      while (out.childElementCount > MAX_LINES)
        (top ? out.lastElementChild : out.firstElementChild)?.remove();
    };

    const params = () => {
      const service = serviceSelect.value || ctx.params.get('service') || '';
      const q = queryInput.value.trim();
      return { service, q };
    };

    const search = async () => {
      follow?.abort();
      follow = undefined;
      clear(out);
      count = 0;
      const { service, q } = params();
      status.textContent = 'Searching…';
      try {
        let lines: LogLine[];
        if (!useJournal) {
          try {
            const query = [q, service ? `service:${service}` : ''].filter(Boolean).join(' ');
            lines = await ctx.api.lines<LogLine>('/v1/observe/logs', {
              environment: env,
              query,
              since: sinceSelect.value,
              limit: 500,
            });
          } catch (e) {
            if (!(e instanceof ApiError && e.status === 404)) throw e;
            useJournal = true;
          }
        }
        if (useJournal) {
          const since = Date.now() - parseRange(sinceSelect.value);
          lines = await ctx.api.lines<LogLine>('/v1/logs', {
            environment: env,
            service: service || undefined,
            since,
            tail: 500,
          });
        }
        for (const l of lines!) append(l);
        status.textContent = `${count} line${count === 1 ? '' : 's'}${useJournal ? ' (replica journal)' : ''}`;
        out.scrollTop = out.scrollHeight;
        if (tailBox.checked) startTail();
      } catch (e) {
        status.textContent = describeError(e);
      }
    };

    const startTail = () => {
      follow?.abort();
      follow = new AbortController();
      const { service, q } = params();
      const path = useJournal ? '/v1/logs' : '/v1/observe/logs';
      const query = useJournal
        ? { environment: env, service: service || undefined, since: Date.now(), follow: 'true' }
        : {
            environment: env,
            query: [q, service ? `service:${service}` : ''].filter(Boolean).join(' '),
            since: Date.now(),
            follow: 'true',
            limit: 1,
          };
      const stick = () => out.scrollHeight - out.scrollTop - out.clientHeight < 40;
      void ctx.api
        .follow<LogLine>(
          path,
          query,
          (l) => {
            const atEnd = stick();
            append(l);
            status.textContent = `${count} lines · following`;
            if (atEnd) out.scrollTop = out.scrollHeight;
          },
          follow.signal,
        )
        .catch((e) => (status.textContent = describeError(e)));
    };

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void search();
    });
    tailBox.addEventListener('change', () => {
      if (tailBox.checked) startTail();
      else {
        follow?.abort();
        status.textContent = `${count} lines`;
      }
    });
    void ctx.api.get<{ replicas: Replica[] }>('/v1/replicas', { environment: env }).then(({ replicas }) => {
      const want = ctx.params.get('service');
      for (const s of [...new Set(replicas.map((r) => r.service))].sort()) {
        serviceSelect.append(h('option', { value: s, selected: s === want }, s));
      }
      void search();
    });
    return () => follow?.abort();
  },
};

function parseRange(s: string): number {
  const n = Number(s.slice(0, -1));
  return s.endsWith('h') ? n * 3_600_000 : n * 60_000;
}
