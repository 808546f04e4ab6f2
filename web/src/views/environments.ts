// Environments: every environment the control plane runs (GET /v1/dashboard/environments), with
// how it was made, its state and replicas; create one from another (POST /v1/environments) and
// destroy one (POST /v1/environments/:env/destroy), both confirming. Read-only roles see the
// controls disabled with the reason; the API refuses them too (403).
import { describeError } from '../api.ts';
import { clear, fmtAgo, h, table } from '../dom.ts';
import type { EnvironmentInfo } from '../types.ts';
import { keepFocus, poll, type View, type ViewContext } from './view.ts';

type EnvState = 'running' | 'degraded' | 'down';

export function stateOf(e: EnvironmentInfo): EnvState {
  const want = e.services.reduce((n, s) => n + s.replicas, 0);
  const healthy = e.services.reduce((n, s) => n + Math.min(s.healthy, s.replicas), 0);
  if (want > 0 && healthy >= want) return 'running';
  return healthy > 0 ? 'degraded' : 'down';
}

function sourceText(e: EnvironmentInfo): string {
  const s = e.source;
  if (!s) return 'rampart up / deploy';
  const parts = [s.from ? `copy of ${s.from}` : 'env create'];
  if (s.overlay) parts.push(`overlay ${s.overlay}`);
  if (s.portOffset) parts.push(`ports +${s.portOffset}`);
  return parts.join(', ');
}

export const environmentsView: View = {
  id: 'environments',
  title: 'Environments',
  mount(root, ctx) {
    return mountEnvironments(root, ctx);
  },
};

function mountEnvironments(root: HTMLElement, ctx: ViewContext): () => void {
  const readOnlyId = 'envs-read-only';
  const list = h('section', { class: 'card', 'aria-labelledby': 'e-list' });
  const progress = h('pre', {
    class: 'log small',
    hidden: true,
    'aria-live': 'polite',
    'aria-label': 'Progress',
    'data-progress': '',
  });
  const nameInput = h('input', {
    id: 'e-name',
    name: 'name',
    required: true,
    maxlength: 8,
    pattern: '[a-z][a-z0-9\\-]{0,7}',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-describedby': 'e-name-hint',
  });
  const fromSelect = h('select', { id: 'e-from', name: 'from' });
  const offsetInput = h('input', {
    id: 'e-offset',
    name: 'portOffset',
    type: 'number',
    min: 1,
    max: 60000,
    inputmode: 'numeric',
    'aria-describedby': 'e-offset-hint',
  });
  const createButton = h('button', { type: 'submit', class: 'primary' }, 'Create…');
  const fieldset = h(
    'fieldset',
    { disabled: !ctx.canWrite, 'aria-describedby': ctx.canWrite ? undefined : readOnlyId },
    h('legend', { class: 'visually-hidden' }, 'New environment'),
    h(
      'div',
      { class: 'form-grid' },
      h('label', { for: 'e-name' }, 'Name'),
      h(
        'div',
        null,
        nameInput,
        h(
          'p',
          { id: 'e-name-hint', class: 'muted small' },
          'A lowercase letter, then letters, digits or -; at most 8.',
        ),
      ),
      h('label', { for: 'e-from' }, 'Copy of'),
      h('div', null, fromSelect),
      h('label', { for: 'e-offset' }, 'Port offset'),
      h(
        'div',
        null,
        offsetInput,
        h(
          'p',
          { id: 'e-offset-hint', class: 'muted small' },
          'Host ports are global: without an offset the copy publishes none.',
        ),
      ),
    ),
    h('div', { class: 'actions' }, createButton),
  );
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'e-create' },
    h('h2', { id: 'e-create' }, 'Create'),
  );
  form.append(
    h(
      'p',
      { class: 'muted' },
      'A full, isolated copy running the releases the source runs, with its own network, database ',
      '(seeded by the stack, never copied) and the source’s policies in protect mode.',
    ),
    fieldset,
  );
  root.append(
    h('h1', null, 'Environments'),
    ctx.canWrite
      ? ''
      : h(
          'p',
          { class: 'notice-inline', id: readOnlyId, 'data-read-only': '' },
          `Read-only: role ${ctx.who.role} cannot create or destroy environments (the API refuses it too).`,
        ),
    h('div', { class: 'stack' }, list, progress, form),
  );
  list.append(h('h2', { id: 'e-list' }, 'Environments'), h('p', { class: 'muted' }, 'Loading…'));

  let envs: EnvironmentInfo[] = [];
  let busy = false;

  const run = async (label: string, op: () => Promise<unknown>) => {
    busy = true;
    keepFocus(root, render);
    clear(progress);
    progress.hidden = false;
    try {
      await op();
      ctx.notify(label);
    } catch (e) {
      progress.append(`${describeError(e)}\n`);
      ctx.notify(describeError(e), 'error');
    } finally {
      busy = false;
      await ctx.environmentsChanged();
      await refresh();
    }
  };
  const onProgress = (line: string) => progress.append(`${line}\n`);

  const destroy = async (e: EnvironmentInfo) => {
    const typed = h('input', { id: 'destroy-name', autocomplete: 'off', spellcheck: 'false' });
    const body = h(
      'div',
      null,
      h(
        'p',
        null,
        'Destroy ',
        h('strong', null, e.name),
        `? Its ${e.services.length} services, namespaces, bridges, firewall tables, database and records are removed; `,
        'releases stay.',
      ),
      h('p', null, h('label', { for: 'destroy-name' }, 'Type its name to confirm '), typed),
    );
    const answer = ctx.confirm({ title: 'Destroy environment', body, action: `Destroy ${e.name}` });
    // The dialog is open now: its confirm button waits for the name.
    const ok = body.closest('dialog')?.querySelector<HTMLButtonElement>('[data-confirm]');
    if (ok) {
      ok.disabled = true;
      typed.addEventListener('input', () => (ok.disabled = typed.value !== e.name));
    }
    if (!(await answer) || typed.value !== e.name) return;
    await run(`${e.name}: destroyed`, () =>
      ctx.api.operation(`/v1/environments/${encodeURIComponent(e.name)}/destroy`, {}, onProgress),
    );
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void (async () => {
      const name = nameInput.value.trim();
      const from = fromSelect.value;
      const offset = offsetInput.value ? Number(offsetInput.value) : undefined;
      const body = h(
        'p',
        null,
        'Create ',
        h('strong', null, name),
        ` as a copy of ${from}`,
        offset ? ` with published ports moved by ${offset}` : ' (no published ports)',
        '?',
      );
      if (!(await ctx.confirm({ title: 'Create environment', body, action: `Create ${name}` }))) return;
      await run(`${name}: created`, () =>
        ctx.api.operation(
          '/v1/environments',
          { environment: name, from, ...(offset && { portOffset: offset }), via: 'dashboard' },
          onProgress,
        ),
      );
    })();
  });

  const render = () => {
    clear(list);
    list.append(h('h2', { id: 'e-list' }, `Environments (${envs.length})`));
    const previous = fromSelect.value || ctx.environment;
    clear(fromSelect);
    fromSelect.append(
      ...envs.map((e) => h('option', { value: e.name, selected: e.name === previous }, e.name)),
    );
    createButton.disabled = busy || envs.length === 0;
    if (envs.length === 0) {
      list.append(h('p', { class: 'muted' }, 'No environment runs.'));
      return;
    }
    list.append(
      table(
        'Environments, their source, state and replicas',
        ['Name', 'Stack', 'Source', 'State', 'Services', 'Replicas', 'Created', ''],
        envs.map((e) => {
          const state = stateOf(e);
          const want = e.services.reduce((n, s) => n + s.replicas, 0);
          const healthy = e.services.reduce((n, s) => n + Math.min(s.healthy, s.replicas), 0);
          const releases = e.services.filter((s) => s.release).length;
          const destroyButton = h(
            'button',
            {
              type: 'button',
              class: 'small danger',
              'data-destroy': e.name,
              'data-focus-key': `destroy:${e.name}`,
              disabled: !ctx.canWrite || busy,
              'aria-describedby': ctx.canWrite ? undefined : readOnlyId,
              title: ctx.canWrite ? undefined : `role ${ctx.who.role} cannot destroy environments`,
            },
            'Destroy…',
          );
          destroyButton.addEventListener('click', () => void destroy(e));
          return [
            h(
              'span',
              { 'data-env': e.name, class: e.name === ctx.environment ? 'focus' : undefined },
              e.name,
              e.name === ctx.environment ? h('span', { class: 'muted' }, ' (shown)') : '',
            ),
            h('span', { title: e.file }, e.stack),
            sourceText(e),
            h('span', { class: `env-state ${state}`, 'data-state': state }, state),
            `${e.services.length}${releases ? ` (${releases} from releases)` : ''}`,
            `${healthy}/${want} healthy`,
            h(
              'time',
              { datetime: new Date(e.createdAt).toISOString(), title: new Date(e.createdAt).toISOString() },
              fmtAgo(e.createdAt),
            ),
            destroyButton,
          ];
        }),
        { class: 'data' },
      ),
    );
  };

  const refresh = async () => {
    try {
      envs = (await ctx.api.get<{ environments: EnvironmentInfo[] }>('/v1/dashboard/environments'))
        .environments;
    } catch (e) {
      clear(list);
      list.append(h('h2', { id: 'e-list' }, 'Environments'), h('p', { class: 'error' }, describeError(e)));
      return;
    }
    keepFocus(root, render);
  };
  return poll(refresh, 5_000);
}
