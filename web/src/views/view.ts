import type { Api } from '../api.ts';
import type { WhoAmI } from '../types.ts';

/** What a view gets from the shell. */
export interface ViewContext {
  api: Api;
  environment: string;
  who: WhoAmI;
  /** The token may change things (admin, operator); viewers get read-only views. */
  canWrite: boolean;
  /** Parameters after the view's name in the hash (`#/logs?service=gateway`). */
  params: URLSearchParams;
  /** Polling period for live data. @default 1500 ms (live means within 2 s) */
  pollMs: number;
  navigate(view: string, params?: Record<string, string>): void;
  /** A modal confirmation; resolves true when the person confirms. */
  confirm(opts: { title: string; body: Node | string; action: string }): Promise<boolean>;
  notify(message: string, kind?: 'info' | 'error'): void;
  /** Re-reads the environments (after one was created or destroyed) for the header's picker. */
  environmentsChanged(): Promise<void>;
  /** Called when the colour scheme changes (canvases re-read their colours). */
  onThemeChange(listener: () => void): () => void;
}

/**
 * A view of the dashboard. Adding one (deploys, environments, vulnerabilities) is a file that
 * exports a View and one line in views/index.ts.
 */
export interface View {
  id: string;
  title: string;
  /** Renders into `root`; returns what stops its timers and streams. */
  mount(root: HTMLElement, ctx: ViewContext): () => void;
}

/** Runs `fn` now and every `ms` until stopped; a slow call is not overlapped by the next. */
export function poll(fn: () => Promise<void>, ms: number): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    try {
      await fn();
    } finally {
      if (!stopped) timer = setTimeout(() => void tick(), ms);
    }
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Triggers a download of `text` as a file. */
export function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * Runs `render` (which rebuilds part of `root`) and gives the focus back to the rebuilt control a
 * keyboard user was on: the one with the same id, or the same `data-focus-key`.
 */
export function keepFocus(root: HTMLElement, render: () => void): void {
  const active = document.activeElement as HTMLElement | null;
  const inside = active && active !== document.body && root.contains(active);
  const selector = !inside
    ? undefined
    : active.id
      ? `#${CSS.escape(active.id)}`
      : active.dataset.focusKey
        ? `[data-focus-key="${CSS.escape(active.dataset.focusKey)}"]`
        : undefined;
  render();
  if (selector && !root.contains(active)) root.querySelector<HTMLElement>(selector)?.focus();
}
