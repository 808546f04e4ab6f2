/**
 * The gateway's HTTP client to the other services: it makes 8-9 calls per assessment, so it is
 * the hottest client of the stack and is tuned for it.
 *
 * - Names are resolved once and cached: Node resolves a host name on every new connection through
 *   getaddrinfo (reading /etc/hosts each time, on the libuv thread pool), and a burst opens many.
 * - Sockets are kept alive and reused most-recently-used first (`lifo`), so a few warm connections
 *   carry the load instead of many cold ones.
 * - A failure is a plain object, not an Error: under overload, thousands of timeouts a second
 *   would otherwise each capture (and, with tsx, source-map) a stack trace nobody reads.
 * - Calls are coalesced per upstream (`batchingClient`): while a call to a service is in flight,
 *   the next ones wait and leave together as one `POST /batch` (lib/http.ts). On 2 cores the
 *   fixed cost of an exchange (two wake-ups, veth, bridge, nftables, HTTP framing) is what limits
 *   the stack; batching shares it between assessments exactly when the load is high.
 */
import { context, type Context } from '@opentelemetry/api';
import dns from 'node:dns';
import http from 'node:http';
import type { LookupFunction } from 'node:net';
import { coalesce, type Settled } from '../../lib/batch.ts';
import { BATCH_PATH, type BatchAnswer, type BatchCall } from '../../lib/http.ts';
import { endCall, inSampledTrace, peerOf, startCarriedCall, untraced } from '../../lib/trace.ts';

export interface UpstreamFailure {
  status: number;
  body: unknown;
  message: string;
}

export function isUpstreamFailure(x: unknown): x is UpstreamFailure {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as UpstreamFailure).status === 'number' &&
    typeof (x as UpstreamFailure).message === 'string'
  );
}

const TTL_MS = 30_000;
const cache = new Map<string, { address: string; family: number; until: number }>();

/** dns.lookup with a 30 s cache (service VIPs do not move while a stack runs). */
export const cachedLookup: LookupFunction = (hostname, options, callback) => {
  const hit = cache.get(hostname);
  if (hit && hit.until > Date.now()) {
    if ((options as dns.LookupOptions).all)
      return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, [
        { address: hit.address, family: hit.family },
      ]);
    return callback(null, hit.address, hit.family);
  }
  dns.lookup(hostname, { family: 4 }, (error, address, family) => {
    if (error) return callback(error, '', 0);
    cache.set(hostname, { address, family, until: Date.now() + TTL_MS });
    if ((options as dns.LookupOptions).all)
      return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, [{ address, family }]);
    callback(null, address, family);
  });
};

/** Sockets kept per upstream. */
const POOL_SIZE = 128;

const agent = new http.Agent({
  keepAlive: true,
  maxSockets: POOL_SIZE,
  maxFreeSockets: POOL_SIZE,
  scheduling: 'lifo',
  lookup: cachedLookup,
} as http.AgentOptions);

/** Most resends of one call after reused sockets failed: the pool's size, plus a fresh one. */
const MAX_RESENDS = POOL_SIZE + 1;

/**
 * Host, port and path of a URL, parsed once: `http.request(url)` parses the string with `new URL`
 * on every call, and the gateway POSTs to the same few URLs thousands of times a second.
 */
const parsedUrls = new Map<string, { host: string; port: number; path: string }>();
function parsedUrl(url: string, keep: boolean): { host: string; port: number; path: string } {
  let p = parsedUrls.get(url);
  if (!p) {
    const u = new URL(url);
    p = {
      host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(u.port || 80),
      path: `${u.pathname}${u.search}`,
    };
    // Only the fixed POST URLs are kept (GETs carry ids in their URLs), and a bounded number.
    if (keep && parsedUrls.size < 64) parsedUrls.set(url, p);
  }
  return p;
}

function request<T>(
  method: 'GET' | 'POST',
  url: string,
  body: unknown,
  timeoutMs: number,
  resends = 0,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const target = parsedUrl(url, method === 'POST');
    const req = http.request(
      {
        host: target.host,
        port: target.port,
        path: target.path,
        method,
        agent,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const text =
            chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // keep the text
          }
          const status = res.statusCode ?? 500;
          if (status >= 400)
            reject({
              status,
              body: parsed,
              message: `${method} ${url}: ${status}`,
            } satisfies UpstreamFailure);
          else resolve(parsed as T);
        });
        res.on('error', () => undefined);
      },
    );
    // One timer for the whole exchange (the socket's idle timeout would restart on every chunk).
    const timer = setTimeout(() => {
      reject({
        status: 504,
        body: { error: 'upstream timeout' },
        message: `${method} ${url}: no answer in ${timeoutMs} ms`,
      } satisfies UpstreamFailure);
      req.destroy();
    }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // A kept-alive socket that the upstream closed as this request was written (a replica
      // stopping after a rolling update drained it): the request never reached it, so it is sent
      // again (Node's `request.reusedSocket` advice). The agent may hand out another pooled socket
      // to the same stopping replica, closed at the same moment, so this repeats while the failed
      // socket was a reused one: each failure removes one from the pool, and a fresh connection
      // goes through the VIP to a replica that serves. Bounded by the pool's size.
      if (resends < MAX_RESENDS && req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
        request<T>(method, url, body, timeoutMs, resends + 1).then(resolve, reject);
        return;
      }
      reject({
        status: 502,
        body: { error: 'upstream unreachable' },
        message: `${method} ${url}: ${e.message}`,
      } satisfies UpstreamFailure);
    });
    req.end(payload);
  });
}

export function postJson<T>(url: string, body: unknown, timeoutMs: number): Promise<T> {
  return request<T>('POST', url, body, timeoutMs);
}

export function getJson<T>(url: string, timeoutMs: number): Promise<T> {
  return request<T>('GET', url, undefined, timeoutMs);
}

export interface BatchingOptions {
  /** Most calls in one batch request. @default 64 */
  maxBatch?: number;
  /** Most requests in flight to the upstream at once; further calls wait and batch. @default 2 */
  maxConcurrent?: number;
}

/** POSTs to one upstream service, coalescing concurrent calls into batch requests. */
export type BatchingClient = <T>(path: string, body: unknown, timeoutMs: number) => Promise<T>;

interface PendingCall extends BatchCall {
  timeoutMs: number;
  /** The caller's context when its trace is sampled: a batch request carries its trace for it. */
  traceContext?: Context;
}

function failure(status: number, body: unknown, message: string): UpstreamFailure {
  return { status, body, message };
}

/**
 * A client of `baseUrl` (`http://velocity:8080`) whose calls share requests under load: a call
 * made while `maxConcurrent` requests are in flight waits for one of them, then leaves with all
 * the others that waited, as one `POST /batch`. A batch of one is a plain `POST <path>`. Each call
 * keeps its own deadline (`timeoutMs` counts from the call, waiting included) and its own answer:
 * one call's 400 does not fail the others.
 */
export function batchingClient(baseUrl: string, options: BatchingOptions = {}): BatchingClient {
  const batchUrl = `${baseUrl}${BATCH_PATH}`;
  const peer = peerOf(baseUrl);
  const send = coalesce<PendingCall, unknown>(
    async (calls): Promise<Settled<unknown>[]> => {
      if (calls.length === 1) {
        const c = calls[0]!;
        return request('POST', `${baseUrl}${c.path}`, c.body, c.timeoutMs).then(
          (value) => [{ ok: true, value }],
          (error: unknown) => [{ ok: false, error }],
        );
      }
      const timeoutMs = Math.max(...calls.map((c) => c.timeoutMs));
      // A sampled call gets its client span here, and its trace travels in the batch body to the
      // callee, which runs the call in a server span of that trace (lib/http.ts). The request
      // itself is untraced: it carries several assessments' calls, and belongs to none of them.
      const spans = calls.map((c) =>
        c.traceContext
          ? startCarriedCall(c.traceContext, `POST ${c.path}`, `${baseUrl}${c.path}`, peer)
          : undefined,
      );
      let answer: { responses?: BatchAnswer[] } | undefined;
      try {
        answer = await untraced(() =>
          request<{ responses?: BatchAnswer[] }>(
            'POST',
            batchUrl,
            {
              requests: calls.map((c, i) => {
                const carrier = spans[i]?.carrier;
                return carrier
                  ? { path: c.path, body: c.body, trace: carrier }
                  : { path: c.path, body: c.body };
              }),
            },
            timeoutMs,
          ),
        );
      } catch (error) {
        for (const s of spans)
          if (s) endCall(s.span, (error as UpstreamFailure).status, (error as UpstreamFailure).message);
        throw error;
      }
      const responses = answer?.responses ?? [];
      return calls.map((c, i): Settled<unknown> => {
        const r = responses[i];
        const span = spans[i]?.span;
        if (span) endCall(span, r?.status);
        if (!r)
          return { ok: false, error: failure(502, undefined, `POST ${batchUrl}: no answer for call ${i}`) };
        if (r.status >= 400)
          return { ok: false, error: failure(r.status, r.body, `POST ${baseUrl}${c.path}: ${r.status}`) };
        return { ok: true, value: r.body };
      });
    },
    {
      maxBatch: options.maxBatch ?? 64,
      maxConcurrent: options.maxConcurrent ?? 2,
      traced: 'carried',
    },
  );
  return <T>(path: string, body: unknown, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      // The call's own deadline: a batch that waits or runs long fails this call, not its request.
      const timer = setTimeout(
        () =>
          reject(
            failure(
              504,
              { error: 'upstream timeout' },
              `POST ${baseUrl}${path}: no answer in ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      send(
        inSampledTrace()
          ? { path, body, timeoutMs, traceContext: context.active() }
          : { path, body, timeoutMs },
      ).then(
        (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
}
