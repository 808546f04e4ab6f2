/**
 * The small HTTP layer every fraud service shares: a JSON server with /healthz, JSON logs on stdout
 * and graceful SIGTERM, and a keep-alive JSON client. Services know each other only by name
 * (`http://identity:8080`), resolved by the platform.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { inCarriedCall, type TraceCarrier } from './trace.ts';

export interface HttpError extends Error {
  status: number;
  body: unknown;
}

export function httpError(status: number, body: unknown): HttpError {
  const e = new Error(typeof body === 'string' ? body : JSON.stringify(body)) as HttpError;
  e.status = status;
  e.body = body;
  return e;
}

export interface RequestContext {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
  params: Record<string, string>;
}

export type Handler = (ctx: RequestContext) => Promise<unknown> | unknown;

export interface Route {
  method: 'GET' | 'POST';
  /** `/v1/assessments/:id` style. */
  path: string;
  handler: Handler;
}

export function log(
  level: 'debug' | 'info' | 'warn' | 'error',
  msg: string,
  fields: Record<string, unknown> = {},
): void {
  process.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, msg, service: process.env.RAMPART_SERVICE, ...fields })}\n`,
  );
}

function match(route: Route, method: string, path: string): Record<string, string> | undefined {
  if (route.method !== method) return undefined;
  // Most routes have no parameters: a string comparison, no splitting.
  if (!route.path.includes(':')) return route.path === path ? {} : undefined;
  const want = route.path.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (w.startsWith(':')) params[w.slice(1)] = decodeURIComponent(got[i]!);
    else if (w !== got[i]) return undefined;
  }
  return params;
}

/** The JSON body, read with plain events (an async iterator costs a promise per chunk). */
function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        req.resume();
        return reject(httpError(413, { error: 'request too large' }));
      }
      if (first === undefined) first = chunk;
      else (chunks ??= [first]).push(chunk);
    });
    req.on('error', (error) => {
      if (!failed) reject(error);
      failed = true;
    });
    req.on('end', () => {
      if (failed) return;
      if (size === 0) return resolve(undefined);
      const buffer = chunks ? Buffer.concat(chunks, size) : first!;
      try {
        resolve(JSON.parse(buffer.toString('utf8')));
      } catch {
        reject(httpError(400, { error: 'body is not valid JSON' }));
      }
    });
  });
}

/** Set on SIGTERM: every answer from then on closes its connection, so close() ends promptly. */
let stopping = false;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body ?? null);
  if (stopping) res.shouldKeepAlive = false;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export interface ServeOptions {
  name: string;
  /** @default env PORT or 8080 */
  port?: number;
  routes: readonly Route[];
  /** Extra readiness condition for /healthz (e.g. the database is reachable). */
  ready?: () => boolean;
  /** Called on SIGTERM after the server stopped accepting connections. */
  onClose?: () => Promise<void>;
  bodyLimit?: number;
}

/** The path of the batch endpoint every service has (see `serve`). */
export const BATCH_PATH = '/batch';

/**
 * One call inside a batch request: a POST route of the service and its JSON body, and the headers
 * of its trace when its trace is sampled (the batch request itself belongs to no trace).
 */
export interface BatchCall {
  path: string;
  body: unknown;
  trace?: TraceCarrier;
}

/** One call's answer inside a batch response: what the route would have answered on its own. */
export interface BatchAnswer {
  status: number;
  body: unknown;
}

interface Reply {
  status: number;
  body: unknown;
}

/** Runs the route matching `method` and `path`: the same answer whether it came alone or in a batch. */
async function dispatch(
  opts: ServeOptions,
  method: string,
  path: string,
  query: URLSearchParams,
  headers: IncomingMessage['headers'],
  readRequestBody: () => Promise<unknown>,
): Promise<Reply> {
  for (const route of opts.routes) {
    const params = match(route, method, path);
    if (!params) continue;
    try {
      const body = method === 'POST' ? await readRequestBody() : undefined;
      const result = await route.handler({ method, path, query, headers, body, params });
      return { status: 200, body: result };
    } catch (error) {
      const e = error as Partial<HttpError>;
      if (typeof e.status === 'number') return { status: e.status, body: e.body };
      log('error', 'request failed', { path, error: (error as Error).message });
      return { status: 500, body: { error: 'internal error' } };
    }
  }
  return { status: 404, body: { error: `no route ${method} ${path}` } };
}

/**
 * Many POST calls in one exchange: `{ requests: [{ path, body }] }` answers
 * `{ responses: [{ status, body }] }`, one per call and in order, each exactly what the route
 * answers on its own. The calls run concurrently, so a service that coalesces its database work
 * (lib/batch.ts) turns one batch request into one statement.
 */
async function runBatch(
  opts: ServeOptions,
  body: unknown,
  headers: IncomingMessage['headers'],
): Promise<{ responses: BatchAnswer[] }> {
  const requests = (body as { requests?: unknown } | undefined)?.requests;
  if (!Array.isArray(requests))
    throw httpError(400, { error: 'invalid batch', field: 'requests', message: 'expected an array' });
  const empty = new URLSearchParams();
  const responses = await Promise.all(
    requests.map((call: Partial<BatchCall> | null) =>
      typeof call?.path !== 'string' || call.path === BATCH_PATH
        ? { status: 400, body: { error: 'invalid batch call', field: 'path' } }
        : inCarriedCall(carrierOf(call.trace), call.path, () =>
            dispatch(opts, 'POST', call.path!, empty, headers, () => Promise.resolve(call.body)),
          ),
    ),
  );
  return { responses };
}

/** A call's trace headers, if it has well-formed ones (anything else is ignored, not refused). */
function carrierOf(value: unknown): TraceCarrier | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { traceparent, tracestate } = value as Record<string, unknown>;
  if (typeof traceparent !== 'string') return undefined;
  return typeof tracestate === 'string' ? { traceparent, tracestate } : { traceparent };
}

export function serve(opts: ServeOptions): http.Server {
  const port = opts.port ?? Number(process.env.PORT ?? 8080);
  const bodyLimit = opts.bodyLimit ?? 256 * 1024;
  const server = http.createServer(async (req, res) => {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const method = req.method ?? 'GET';
    if (path === '/healthz') return send(res, opts.ready && !opts.ready() ? 503 : 200, { ok: true });
    if (path === BATCH_PATH && method === 'POST') {
      try {
        return send(res, 200, await runBatch(opts, await readBody(req, bodyLimit * 64), req.headers));
      } catch (error) {
        const e = error as Partial<HttpError>;
        return send(
          res,
          typeof e.status === 'number' ? e.status : 500,
          e.body ?? { error: 'internal error' },
        );
      }
    }
    const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
    const reply = await dispatch(opts, method, path, query, req.headers, () => readBody(req, bodyLimit));
    send(res, reply.status, reply.body);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, () => log('info', `${opts.name} listening`, { port }));
  process.once('SIGTERM', () => {
    // A client holding a keep-alive connection gets its in-flight answers with `Connection: close`
    // and opens a new connection for the next request (through the VIP, to another replica).
    stopping = true;
    server.close(() => void (opts.onClose?.() ?? Promise.resolve()).finally(() => process.exit(0)));
    // Idle keep-alive connections would hold close() open until they time out.
    server.closeIdleConnections();
  });
  return server;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** POSTs JSON to another service and returns its JSON answer; non-2xx throws an HttpError. */
export function postJson<T>(url: string, body: unknown, timeoutMs = 2000): Promise<T> {
  return requestJson<T>('POST', url, body, timeoutMs);
}

export function getJson<T>(url: string, timeoutMs = 2000): Promise<T> {
  return requestJson<T>('GET', url, undefined, timeoutMs);
}

function requestJson<T>(method: string, url: string, body: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent,
        timeout: timeoutMs,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // keep text
          }
          if ((res.statusCode ?? 500) >= 400) reject(httpError(res.statusCode ?? 500, parsed));
          else resolve(parsed as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(httpError(504, { error: `${url} timed out after ${timeoutMs} ms` })));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}
