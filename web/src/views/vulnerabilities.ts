// Vulnerabilities: the findings of the releases that run (docs/vulnerabilities.md), with the loop's
// timeline per finding: found, triggered (CI), deployed, verified, resolved.
import { describeError } from '../api.ts';
import { fmtAgo, fmtTime, h, table } from '../dom.ts';
import type { FindingRecord, FindingsAnswer } from '../types.ts';
import { poll, type View } from './view.ts';

const loadedText = (f: FindingRecord): string => {
  const states = new Set(f.current.map((c) => String(c.loaded)));
  if (states.size === 0) return '-';
  return states.has('true') ? 'loaded' : states.has('unknown') ? 'unknown' : 'never loaded';
};

export const vulnerabilitiesView: View = {
  id: 'vulnerabilities',
  title: 'Vulnerabilities',
  mount(root, ctx) {
    const env = ctx.environment;
    const summary = h('p', { class: 'muted' }, 'Loading…');
    const list = h('div', { class: 'stack' });
    const detail = h('div', { class: 'stack' });
    root.append(h('div', { class: 'toolbar' }, h('h1', null, 'Vulnerabilities')), summary, list, detail);
    const show = (f: FindingRecord) =>
      detail.replaceChildren(
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'v-detail' },
          h('h2', { id: 'v-detail' }, `${f.advisory} in ${f.package} (${f.service})`),
          h('p', null, f.summary),
          h('p', { class: 'muted' }, f.decision ? `${f.decision.action}: ${f.decision.reason}` : ''),
          table(
            'Timeline',
            ['When', 'Event', 'Detail'],
            f.timeline.map((t) => [fmtTime(t.at), t.event, t.detail]),
          ),
        ),
      );
    const stop = poll(async () => {
      let answer: FindingsAnswer;
      try {
        answer = await ctx.api.get<FindingsAnswer>('/v1/vuln/findings', { environment: env });
      } catch (e) {
        summary.textContent = describeError(e);
        return;
      }
      const open = answer.findings.filter((f) => f.state !== 'resolved').length;
      summary.textContent = `${answer.findings.length} findings, ${open} open; ${answer.advisories.count} advisories${
        answer.advisories.source ? ` from ${answer.advisories.source}` : ' (no advisory source configured)'
      }${answer.error ? `; last error: ${answer.error}` : ''}`;
      list.replaceChildren(
        table(
          'Findings',
          ['Service', 'Package', 'Advisory', 'Severity', 'Fix', 'Runtime', 'State', 'Since', ''],
          answer.findings.map((f) => {
            const open = h('button', { type: 'button', class: 'small' }, 'Timeline');
            open.addEventListener('click', () => show(f));
            return [
              f.service,
              `${f.package}@${f.current.map((c) => c.version).join(', ') || '-'}`,
              [f.advisory, ...f.aliases].join(' '),
              f.severity,
              f.fixedVersion ?? 'no fix',
              loadedText(f),
              f.state,
              f.timeline[0] ? fmtAgo(f.timeline[0].at) : '-',
              open,
            ];
          }),
        ),
      );
    }, 5_000);
    return stop;
  },
};
