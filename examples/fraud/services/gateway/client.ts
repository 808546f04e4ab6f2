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
 */
import dns from 'node:dns';
import http from 'node:http';
import type { LookupFunction } from 'node:net';

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

const agent = new http.Agent({
  keepAlive: true,
  maxSockets: 128,
  maxFreeSockets: 128,
  scheduling: 'lifo',
  lookup: cachedLookup,
} as http.AgentOptions);

function request<T>(method: 'GET' | 'POST', url: string, body: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
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
    req.on('error', (e) => {
      clearTimeout(timer);
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
