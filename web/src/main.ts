// The dashboard shell: login with an API token, the environment picker, navigation between views
// (hash routes, so the control plane serves one index.html), theme, confirmations and notices.
import './style.css';
import { Api, ApiError, describeError } from './api.ts';
import { clear, h } from './dom.ts';
import type { WhoAmI } from './types.ts';
import { VIEWS } from './views/index.ts';
import type { ViewContext } from './views/view.ts';

const TOKEN_KEY = 'rampart.token';
const ENV_KEY = 'rampart.environment';
const THEME_KEY = 'rampart.theme';

const app = document.getElementById('app')!;
const themeListeners = new Set<() => void>();
const search = new URLSearchParams(location.search);
const pollMs = Math.max(250, Number(search.get('poll')) || 1500);

function applyTheme(theme: string | null): void {
  if (theme === 'dark' || theme === 'light') document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  for (const l of themeListeners) l();
}
applyTheme(localStorage.getItem(THEME_KEY));
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  for (const l of themeListeners) l();
});
function effectiveTheme(): 'dark' | 'light' {
  const t = document.documentElement.dataset.theme;
  if (t === 'dark' || t === 'light') return t;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

async function whoami(api: Api): Promise<WhoAmI> {
  try {
    return await api.get<WhoAmI>('/v1/whoami');
  } catch (e) {
    // A daemon without roles knows one token, the admin's: any answer means it is that one.
    if (e instanceof ApiError && e.status === 404) {
      await api.get('/v1/environments');
      return { name: 'root', role: 'admin' };
    }
    throw e;
  }
}

function showLogin(message?: string): void {
  clear(app);
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    spellcheck: 'false',
  });
  const error = h('p', { class: 'error', role: 'alert' }, message ?? '');
  const form = h(
    'form',
    { class: 'login card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Rampart'),
    h(
      'p',
      { class: 'muted' },
      'Sign in with an API token (',
      h('code', null, 'rampart token create'),
      ' or the daemon’s token file).',
    ),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    error,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void login(input.value.trim(), error);
  });
  app.append(h('main', { class: 'login-page' }, form));
  input.focus();
}

async function login(token: string, error?: HTMLElement): Promise<void> {
  const api = new Api(token);
  try {
    const who = await whoami(api);
    sessionStorage.setItem(TOKEN_KEY, token);
    await startShell(api, who);
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    const msg = e instanceof ApiError && e.status === 401 ? 'That token is not valid.' : describeError(e);
    if (error) error.textContent = msg;
    else showLogin(msg);
  }
}

function parseHash(): { view: string; params: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [view = '', query = ''] = raw.split('?');
  return { view: view || VIEWS[0]!.id, params: new URLSearchParams(query) };
}

async function startShell(api: Api, who: WhoAmI): Promise<void> {
  const canWrite = who.role === 'admin' || who.role === 'operator';
  let { environments } = await api.get<{ environments: string[] }>('/v1/environments');
  let environment = localStorage.getItem(ENV_KEY) ?? '';
  if (!environments.includes(environment)) environment = environments[0] ?? '';

  clear(app);
  document.body.classList.toggle('read-only', !canWrite);
  const notices = h('div', { class: 'notices', role: 'status', 'aria-live': 'polite' });
  const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' });
  const nav = h('nav', { 'aria-label': 'Views' });
  const envSelect = h(
    'select',
    { id: 'env', 'aria-label': 'Environment' },
    environments.map((e) => h('option', { value: e, selected: e === environment }, e)),
  );
  const themeButton = h('button', { type: 'button', class: 'ghost', 'aria-label': 'Switch colour theme' });
  const setThemeLabel = () => {
    themeButton.textContent = effectiveTheme() === 'dark' ? '☀ Light' : '☾ Dark';
  };
  setThemeLabel();
  // The system's scheme may change under an unset choice (and the browser tests emulate it).
  themeListeners.add(setThemeLabel);
  themeButton.addEventListener('click', () => {
    const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
    localStorage.setItem(THEME_KEY, next);
    applyTheme(next);
    setThemeLabel();
  });
  const logout = h('button', { type: 'button', class: 'ghost' }, 'Sign out');
  logout.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    stop();
    showLogin();
  });
  const main = h('main', { id: 'view', tabindex: '-1' });
  app.append(
    h(
      'a',
      { class: 'skip', href: '#view', onclick: (e: Event) => (e.preventDefault(), main.focus()) },
      'Skip to content',
    ),
    h(
      'header',
      { class: 'top' },
      h('span', { class: 'brand' }, 'Rampart'),
      nav,
      h(
        'div',
        { class: 'top-right' },
        h('label', { for: 'env', class: 'visually-hidden' }, 'Environment'),
        envSelect,
        h(
          'span',
          { class: 'who', 'data-role': who.role, title: `signed in as ${who.name}` },
          `${who.name} · ${who.role}`,
        ),
        themeButton,
        logout,
      ),
    ),
    main,
    notices,
    dialog,
  );

  const notify = (message: string, kind: 'info' | 'error' = 'info') => {
    const n = h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : undefined }, message);
    notices.append(n);
    setTimeout(() => n.remove(), kind === 'error' ? 9000 : 4000);
  };
  const confirm: ViewContext['confirm'] = ({ title, body, action }) =>
    new Promise((resolve) => {
      clear(dialog);
      const cancel = h('button', { type: 'button', class: 'ghost' }, 'Cancel');
      const ok = h('button', { type: 'button', class: 'primary', 'data-confirm': '' }, action);
      dialog.append(
        h('h2', { id: 'confirm-title' }, title),
        h('div', { class: 'confirm-body' }, body),
        h('div', { class: 'actions' }, cancel, ok),
      );
      const done = (v: boolean) => {
        dialog.close();
        resolve(v);
      };
      cancel.addEventListener('click', () => done(false));
      ok.addEventListener('click', () => done(true));
      dialog.addEventListener('cancel', () => resolve(false), { once: true });
      dialog.showModal();
      cancel.focus();
    });

  const fillEnvironments = () => {
    clear(envSelect);
    envSelect.append(...environments.map((e) => h('option', { value: e, selected: e === environment }, e)));
  };
  const environmentsChanged = async () => {
    try {
      ({ environments } = await api.get<{ environments: string[] }>('/v1/environments'));
    } catch {
      return; // the picker keeps what it had; the next change tries again
    }
    fillEnvironments();
    if (!environments.includes(environment)) {
      // The one shown is gone: show another (or the empty page).
      environment = environments[0] ?? '';
      render();
    }
  };

  let unmount: (() => void) | undefined;
  const render = () => {
    unmount?.();
    unmount = undefined;
    const { view, params } = parseHash();
    const v = VIEWS.find((x) => x.id === view) ?? VIEWS[0]!;
    clear(nav);
    for (const x of VIEWS) {
      nav.append(h('a', { href: `#/${x.id}`, 'aria-current': x.id === v.id ? 'page' : undefined }, x.title));
    }
    document.title = `${v.title} · Rampart`;
    clear(main);
    if (!environment) {
      main.append(
        h(
          'section',
          { class: 'empty card' },
          h('h1', null, 'Nothing runs yet'),
          h('p', null, 'Start a stack with ', h('code', null, 'rampart up'), '.'),
        ),
      );
      return;
    }
    const ctx: ViewContext = {
      api,
      environment,
      who,
      canWrite,
      params,
      pollMs,
      navigate: (id, p) => {
        location.hash = `#/${id}${p ? `?${new URLSearchParams(p).toString()}` : ''}`;
      },
      confirm,
      notify,
      environmentsChanged,
      onThemeChange: (l) => {
        themeListeners.add(l);
        return () => themeListeners.delete(l);
      },
    };
    unmount = v.mount(main, ctx);
  };
  const stop = () => {
    themeListeners.delete(setThemeLabel);
    window.removeEventListener('hashchange', render);
    unmount?.();
    unmount = undefined;
  };
  envSelect.addEventListener('change', () => {
    environment = envSelect.value;
    localStorage.setItem(ENV_KEY, environment);
    render();
  });
  window.addEventListener('hashchange', render);
  render();
}

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) void login(saved);
else showLogin();
