import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RampartError, type ErrorCode } from '../platform/errors.ts';
import { readDaemonInfo, readToken } from '../server/state-dir.ts';

/** A thin client of the control plane's HTTP API: what the CLI (and CI scripts) use. */
export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  static connect(stateDir: string): ApiClient {
    const info = readDaemonInfo(stateDir);
    const token = readToken(stateDir);
    if (!info || !token) {
      throw new RampartError(
        'RAMPART_E_DAEMON_UNREACHABLE',
        `no Rampart daemon runs for state directory ${stateDir}`,
      );
    }
    return new ApiClient(info.url, token);
  }

  async healthy(): Promise<boolean> {
    try {
      const res = await fetch(`${this.url}/v1/healthz`, { signal: AbortSignal.timeout(1000) });
      return res.ok;
    } catch {
      return false;
    }
  }

  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const res = await this.request('GET', path, query);
    return (await res.json()) as T;
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    const res = await this.request('POST', path, {}, body);
    return (await res.json()) as T;
  }

  async delete<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const res = await this.request('DELETE', path, query);
    return (await res.json()) as T;
  }

  /** A GET answered with text (YAML, Markdown, a diff). */
  async text(path: string, query: Record<string, string | number | undefined> = {}): Promise<string> {
    const res = await this.request('GET', path, query);
    return res.text();
  }

  /** Calls a streaming endpoint; each NDJSON object goes to `onItem`. */
  async stream(
    method: 'GET' | 'POST',
    path: string,
    opts: { body?: unknown; query?: Record<string, string | number | undefined>; signal?: AbortSignal },
    onItem: (item: Record<string, unknown>) => void,
  ): Promise<void> {
    const res = await this.request(method, path, opts.query ?? {}, opts.body, opts.signal);
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.trim()) onItem(JSON.parse(line) as Record<string, unknown>);
        }
      }
    } catch (error) {
      if ((error as Error).name === 'AbortError' || opts.signal?.aborted) return;
      if (error instanceof SyntaxError) throw error;
      // undici says only "terminated": the daemon stopped or restarted, or the connection broke.
      throw new RampartError(
        'RAMPART_E_DAEMON_UNREACHABLE',
        `the Rampart daemon at ${this.url} ended ${method} ${path} early: ${(error as Error).message}`,
      );
    }
  }

  private async request(
    method: string,
    path: string,
    query: Record<string, string | number | undefined>,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Response> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}${qs.size ? `?${qs}` : ''}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal,
      });
    } catch (error) {
      throw new RampartError(
        'RAMPART_E_DAEMON_UNREACHABLE',
        `cannot reach the Rampart daemon at ${this.url}: ${(error as Error).message}`,
      );
    }
    if (!res.ok) {
      const payload = (await res.json().catch(() => ({}))) as {
        error?: { code?: string; message?: string; details?: object };
      };
      const code = (payload.error?.code ?? 'RAMPART_E_BAD_REQUEST') as ErrorCode;
      throw new RampartError(
        code,
        payload.error?.message ?? `HTTP ${res.status}`,
        (payload.error?.details ?? {}) as Record<string, unknown>,
      );
    }
    return res;
  }
}

const BIN = fileURLToPath(new URL('../../bin/rampart.js', import.meta.url));

/** Connects to the daemon of `stateDir`, starting one in the background if none answers. */
export async function connectOrStartDaemon(
  stateDir: string,
  opts: { onStart?: (log: string) => void } = {},
): Promise<ApiClient> {
  try {
    const client = ApiClient.connect(stateDir);
    if (await client.healthy()) return client;
  } catch {
    // none yet
  }
  if (process.platform !== 'linux') {
    throw new RampartError(
      'RAMPART_E_NOT_LINUX',
      `Rampart runs on Linux (network namespaces, nftables); this is ${process.platform}`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new RampartError(
      'RAMPART_E_NOT_ROOT',
      'starting the Rampart daemon needs root: it creates network namespaces, bridges and nftables tables',
      {
        fix: 'run it with sudo, or start `sudo rampart daemon` once and use the CLI with read access to its token',
      },
    );
  }
  mkdirSync(stateDir, { recursive: true, mode: 0o711 });
  const log = join(stateDir, 'daemon.log');
  const fd = openSync(log, 'a', 0o600);
  const child = spawn(process.execPath, [BIN, 'daemon'], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, RAMPART_HOME: stateDir },
  });
  child.unref();
  opts.onStart?.(log);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      const client = ApiClient.connect(stateDir);
      if (await client.healthy()) return client;
    } catch {
      // not yet
    }
    if (child.exitCode !== null) break;
  }
  throw new RampartError('RAMPART_E_DAEMON_UNREACHABLE', `the daemon did not start; read ${log}`);
}
