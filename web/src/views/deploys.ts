// Deploys: what each service runs (its release), and the audited history of deploys, rollbacks and
// `env create` (GET /v1/environments/:env/history), per service or all; a rollback button per
// service (POST /v1/environments/:env/rollback, confirming), refused to read-only roles by the UI
// (disabled, with the reason) and by the API (403).
import { describeError } from '../api.ts';
import { clear, fmtAgo, fmtTime, h, table } from '../dom.ts';
import type { DeployRecord, EnvironmentInfo, ServiceRelease } from '../types.ts';
import { keepFocus, poll, type View, type ViewContext } from './view.ts';

export const shortId = (id: string | null | undefined): string => (id ? id.slice(0, 12) : '–');

const OUTCOME_CLASS: Record<string, string> = {
  succeeded: 'ok',
  'no-op': 'muted',
  'dry-run': 'muted',
  running: '',
  failed: 'bad',
  'rolled-back': 'bad',
};

/** The newest record that put `service` on `release` (when and by whom it was deployed). */
export function deployOf(
  history: readonly DeployRecord[],
  service: string,
  release: string | null,
): DeployRecord | undefined {
  if (!release) return undefined;
  return history.find(
    (d) =>
      (d.outcome === 'succeeded' || d.outcome === 'no-op') &&
      d.services.some((s) => s.service === service && s.to === release),
  );
}

/** Releases a service ran before (newest first), for the rollback's target. */
function earlierReleases(
  history: readonly DeployRecord[],
  service: string,
  current: string | null,
): string[] {
  const ids: string[] = [];
  for (const d of history) {
    if (d.outcome !== 'succeeded' && d.outcome !== 'no-op') continue;
    for (const s of d.services)
      if (s.service === service && s.to && s.to !== current && !ids.includes(s.to)) ids.push(s.to);
  }
  return ids;
}

export const deploysView: View = {
  id: 'deploys',
  title: 'Deploys',
  mount(root, ctx) {
    return mountDeploys(root, ctx);
  },
};

function mountDeploys(root: HTMLElement, ctx: ViewContext): () => void {
  const env = ctx.environment;
  const readOnlyId = 'deploys-read-only';
  const services = h('section', { class: 'card', 'aria-labelledby': 'd-services' });
  const history = h('section', { class: 'card', 'aria-labelledby': 'd-history' });
  const progress = h('pre', {
    class: 'log small',
    hidden: true,
    'aria-live': 'polite',
    'aria-label': 'Rollback progress',
    'data-progress': '',
  });
  const filter = h(
    'select',
    { id: 'd-filter', 'aria-label': 'Show the history of' },
    h('option', { value: '' }, 'all services'),
  );
  root.append(
    h('h1', null, 'Deploys'),
    ctx.canWrite
      ? ''
      : h(
          'p',
          { class: 'notice-inline', id: readOnlyId, 'data-read-only': '' },
          `Read-only: role ${ctx.who.role} cannot roll back (the API refuses it too).`,
        ),
    h('div', { class: 'stack' }, services, progress, history),
  );
  services.append(h('h2', { id: 'd-services' }, 'Releases running'), h('p', { class: 'muted' }, 'Loading…'));
  history.append(h('h2', { id: 'd-history' }, 'History'), h('p', { class: 'muted' }, 'Loading…'));

  let info: EnvironmentInfo | undefined;
  let records: DeployRecord[] = [];
  let selected = ctx.params.get('service') ?? '';
  let busy = false;
  filter.addEventListener('change', () => {
    selected = filter.value;
    renderHistory();
  });

  const rollback = async (s: ServiceRelease) => {
    const earlier = earlierReleases(records, s.service, s.release);
    const target = h(
      'select',
      { id: 'rollback-to' },
      h('option', { value: '' }, 'the release before the running one'),
      earlier.map((id) => h('option', { value: id }, shortId(id))),
    );
    const body = h(
      'div',
      null,
      h(
        'p',
        null,
        'Roll ',
        h('strong', null, s.service),
        ` back from release ${shortId(s.release)}? Its replicas are replaced one by one (a rolling update);`,
        ' a release that does not turn healthy is rolled back again.',
      ),
      h('p', null, h('label', { for: 'rollback-to' }, 'To '), target),
    );
    if (!(await ctx.confirm({ title: 'Roll back', body, action: `Roll back ${s.service}` }))) return;
    busy = true;
    keepFocus(root, renderServices);
    clear(progress);
    progress.hidden = false;
    try {
      const done = await ctx.api.operation<{ record: DeployRecord }>(
        `/v1/environments/${encodeURIComponent(env)}/rollback`,
        { service: s.service, ...(target.value && { to: target.value }), via: 'dashboard' },
        (line) => progress.append(`${line}\n`),
      );
      ctx.notify(`${s.service}: ${done.record.message || 'rolled back'}`);
    } catch (e) {
      progress.append(`${describeError(e)}\n`);
      ctx.notify(describeError(e), 'error');
    } finally {
      busy = false;
      await refresh();
    }
  };

  const renderServices = () => {
    clear(services);
    services.append(h('h2', { id: 'd-services' }, 'Releases running'));
    if (!info) {
      services.append(h('p', { class: 'muted' }, `Nothing runs in ${env}.`));
      return;
    }
    services.append(
      table(
        `Services of ${env} and the release each runs`,
        ['Service', 'Release', 'Replicas', 'Deployed', 'By', ''],
        info.services.map((s) => {
          const d = deployOf(records, s.service, s.release);
          const explain = ctx.canWrite ? undefined : readOnlyId;
          const button = h(
            'button',
            {
              type: 'button',
              class: 'small',
              'data-rollback': s.service,
              'data-focus-key': `rollback:${s.service}`,
              disabled: !ctx.canWrite || busy,
              'aria-describedby': explain,
              title: ctx.canWrite ? undefined : `role ${ctx.who.role} cannot roll back`,
            },
            'Roll back…',
          );
          button.addEventListener('click', () => void rollback(s));
          const show = h(
            'button',
            {
              type: 'button',
              class: 'link',
              'data-focus-key': `history:${s.service}`,
              onclick: () => {
                selected = s.service;
                renderHistory();
                filter.focus();
              },
            },
            'History',
          );
          return [
            h('span', { class: s.service === selected ? 'focus' : undefined }, s.service),
            s.release
              ? h('code', { 'data-release-of': s.service, title: s.release }, shortId(s.release))
              : h('span', { class: 'muted', 'data-release-of': s.service }, 'from its folder (not deployed)'),
            h(
              'span',
              { class: s.healthy < s.replicas ? 'bad' : undefined },
              `${s.healthy}/${s.replicas} healthy`,
            ),
            d ? h('time', { datetime: new Date(d.time).toISOString() }, fmtAgo(d.time)) : '–',
            d ? `${d.actor} (${d.via})` : '–',
            h('span', { class: 'row-actions' }, show, button),
          ];
        }),
        { class: 'data' },
      ),
    );
  };

  // A no-op names every service it found up to date: say how many, list the rest.
  const listed = (d: DeployRecord) => {
    const mine = d.services.filter((s) => !selected || s.service === selected);
    const unchanged = mine.filter((s) => s.change === 'unchanged');
    return unchanged.length > 2 ? mine.filter((s) => s.change !== 'unchanged') : mine;
  };
  const unchangedCount = (d: DeployRecord) => {
    const n = d.services.filter(
      (s) => (!selected || s.service === selected) && s.change === 'unchanged',
    ).length;
    return n > 2 ? n : 0;
  };

  const renderHistory = () => {
    const names = info?.services.map((s) => s.service) ?? [];
    clear(filter);
    filter.append(
      h('option', { value: '' }, 'all services'),
      ...names.map((n) => h('option', { value: n, selected: n === selected }, n)),
    );
    clear(history);
    history.append(
      h(
        'div',
        { class: 'toolbar' },
        h('h2', { id: 'd-history' }, 'History'),
        h('label', { for: 'd-filter' }, 'Service'),
        filter,
      ),
    );
    const mine = selected ? records.filter((d) => d.services.some((s) => s.service === selected)) : records;
    if (mine.length === 0) {
      history.append(
        h(
          'p',
          { class: 'muted' },
          'No deploy recorded. A stack brought up with `rampart up` runs from its folders; ',
          h('code', null, 'rampart deploy'),
          ' makes releases and records them here.',
        ),
      );
      return;
    }
    history.append(
      table(
        selected ? `Deploys of ${selected}, newest first` : 'Deploys, newest first',
        ['Time', 'What', 'Releases', 'Who', 'Outcome', 'Message'],
        mine.slice(0, 200).map((d) => [
          h('time', { datetime: new Date(d.time).toISOString(), title: new Date(d.time).toISOString() }, [
            fmtTime(d.time),
            h('span', { class: 'muted' }, ` · ${fmtAgo(d.time)}`),
          ]),
          d.kind,
          h(
            'ul',
            { class: 'plain' },
            listed(d)
              .map((s) =>
                h(
                  'li',
                  { 'data-history-of': s.service },
                  `${s.service} `,
                  h('code', null, s.from ? `${shortId(s.from)} → ${shortId(s.to)}` : shortId(s.to)),
                  s.change === 'unchanged' ? h('span', { class: 'muted' }, ' (unchanged)') : '',
                ),
              )
              .concat(
                unchangedCount(d)
                  ? [h('li', { class: 'muted' }, `${unchangedCount(d)} services unchanged`)]
                  : [],
              ),
          ),
          `${d.actor} (${d.via})`,
          h(
            'span',
            { class: `outcome ${OUTCOME_CLASS[d.outcome] ?? ''}`, 'data-outcome': d.outcome },
            d.outcome,
          ),
          h('span', { class: 'small' }, d.message),
        ]),
        { class: 'data' },
      ),
    );
  };

  const refresh = async () => {
    try {
      const [envs, hist] = await Promise.all([
        ctx.api.get<{ environments: EnvironmentInfo[] }>('/v1/dashboard/environments'),
        ctx.api.get<{ deploys: DeployRecord[] }>(`/v1/environments/${encodeURIComponent(env)}/history`),
      ]);
      info = envs.environments.find((e) => e.name === env);
      records = hist.deploys;
    } catch (e) {
      clear(history);
      history.append(h('h2', { id: 'd-history' }, 'History'), h('p', { class: 'error' }, describeError(e)));
      return;
    }
    keepFocus(root, () => {
      renderServices();
      renderHistory();
    });
  };
  return poll(refresh, 5_000);
}
