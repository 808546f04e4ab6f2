import type { ApiErrorBody } from './types.ts';

/** An API answer that is not 2xx, with the server's error code and hint. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
  }
}

type Query = Record<string, string | number | boolean | undefined>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** The control plane's API, with the token of whoever logged in. Every call carries it. */
export class Api {
  constructor(
    private readonly token: string,
    private readonly base = '',
  ) {}

  private async request(method: string, path: string, query?: Query, body?: unknown): Promise<Response> {
    const res = await fetch(this.base + withQuery(path, query), {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) {
      let err: ApiErrorBody = { code: `HTTP_${res.status}`, message: res.statusText || `HTTP ${res.status}` };
      try {
        const j = (await res.json()) as { error?: ApiErrorBody };
        if (j.error) err = j.error;
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiError(res.status, err);
    }
    return res;
  }

  async get<T>(path: string, query?: Query): Promise<T> {
    return (await (await this.request('GET', path, query)).json()) as T;
  }

  async text(path: string, query?: Query): Promise<string> {
    return (await this.request('GET', path, query)).text();
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return (await (await this.request('POST', path, undefined, body)).json()) as T;
  }

  /**
   * A long operation that streams NDJSON progress (rollback, environment create/destroy): calls
   * `onProgress` per line and resolves with the final `done` object; a final `error` line (the
   * operation failed after it started) throws as an ApiError, like a refused request.
   */
  async operation<T extends object>(
    path: string,
    body: unknown,
    onProgress: (message: string) => void = () => undefined,
  ): Promise<T> {
    const text = await (await this.request('POST', path, undefined, body)).text();
    let last: { type?: string; message?: string; error?: ApiErrorBody } | undefined;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      last = JSON.parse(line) as typeof last;
      if (last?.type === 'progress' && last.message) onProgress(last.message);
    }
    if (last?.type === 'error')
      throw new ApiError(200, last.error ?? { code: 'RAMPART_E_FAILED', message: 'failed' });
    if (last?.type !== 'done')
      throw new ApiError(200, { code: 'HTTP_STREAM', message: 'the answer ended early' });
    return last as T;
  }

  /** Every object of an NDJSON answer that ends (no follow). */
  async lines<T>(path: string, query?: Query): Promise<T[]> {
    const text = await this.text(path, query);
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as T);
  }

  /** Follows an NDJSON stream until `signal` aborts; resolves when the stream ends. */
  async follow<T>(path: string, query: Query, onItem: (item: T) => void, signal: AbortSignal): Promise<void> {
    const res = await fetch(this.base + withQuery(path, query), {
      headers: { authorization: `Bearer ${this.token}` },
      signal,
    });
    if (!res.ok || !res.body)
      throw new ApiError(res.status, { code: `HTTP_${res.status}`, message: res.statusText });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.trim()) onItem(JSON.parse(line) as T);
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
  }
}

/** A short human message for any failure (the API's code and hint when it gave them). */
export function describeError(e: unknown): string {
  if (e instanceof ApiError)
    return `${e.body.code}: ${e.body.message}${e.body.hint ? ` (${e.body.hint})` : ''}`;
  return (e as Error).message ?? String(e);
}
