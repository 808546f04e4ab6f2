import assert from 'node:assert/strict';
import http, { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';

const require = createRequire(import.meta.url);
const { bypassUntraced, untracedTraceparent } = require('./untraced.cjs') as {
  bypassUntraced(modules: object[], o: object): void;
  untracedTraceparent(): string;
};

type Request = typeof http.request;

/**
 * A stand-in for `node:http` as the HTTP instrumentation leaves it: `request` and `get` wrapped,
 * with Node's own functions as `__original` (the real module is not patched by this test).
 */
function instrumentedModule(): { mod: { request: Request; get: typeof http.get }; tracedCalls: string[] } {
  const tracedCalls: string[] = [];
  const request = Object.assign(
    function request(...args: Parameters<Request>) {
      tracedCalls.push('request');
      return http.request(...args);
    },
    { __original: http.request },
  );
  const get = Object.assign(
    function get(...args: Parameters<typeof http.get>) {
      tracedCalls.push('get');
      return http.get(...args);
    },
    { __original: http.get },
  );
  return { mod: { request: request as Request, get: get as typeof http.get }, tracedCalls };
}

const NOT_SAMPLED = /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/;

describe('untraced requests around the HTTP instrumentation', () => {
  let server: Server;
  let port: number;
  const seen: IncomingHttpHeaders[] = [];

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());

  const send = (request: Request, headers: http.OutgoingHttpHeaders | string[]) =>
    new Promise<IncomingHttpHeaders>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers }, (res) => {
        res.resume();
        // Only an answered request is in `seen` (a refused one would leave the previous there).
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        res.on('end', () => resolve(seen[seen.length - 1]!));
      });
      req.on('error', reject);
      req.end('{}');
    });

  it('GIVEN an untraced caller WHEN it calls with object headers THEN Node’s request carries a not-sampled traceparent', async () => {
    const { mod, tracedCalls } = instrumentedModule();
    bypassUntraced([mod], { untraced: () => true });
    const headers = await send(mod.request, { 'content-type': 'application/json' });
    assert.match(String(headers.traceparent), NOT_SAMPLED);
    assert.equal(headers['content-type'], 'application/json');
    assert.deepEqual(tracedCalls, [], 'the instrumentation was gone around');
  });

  it('GIVEN raw array headers WHEN untraced THEN the traceparent is appended to them', async () => {
    const { mod } = instrumentedModule();
    bypassUntraced([mod], { untraced: () => true });
    // Node adds no Host or framing header to raw ones, and its server refuses a request without Host.
    const raw = ['host', `127.0.0.1:${port}`, 'content-length', '2', 'x-order', '42'];
    const headers = await send(mod.request, raw);
    assert.match(String(headers.traceparent), NOT_SAMPLED);
    assert.equal(headers['x-order'], '42');
  });

  it('GIVEN an Expect header (rendered at construction) WHEN untraced THEN the call still goes, without a traceparent', async () => {
    const { mod } = instrumentedModule();
    bypassUntraced([mod], { untraced: () => true });
    const req = mod.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/',
      headers: { expect: '100-continue' },
    });
    const answered = new Promise<IncomingHttpHeaders>((resolve, reject) => {
      req.on('continue', () => req.end('{}'));
      req.on('response', (res) => {
        res.resume();
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        res.on('end', () => resolve(seen[seen.length - 1]!));
      });
      req.on('error', reject);
    });
    const headers = await answered;
    assert.equal(headers.traceparent, undefined);
  });

  it('GIVEN a traced caller WHEN it calls THEN the instrumentation handles the call', async () => {
    const { mod, tracedCalls } = instrumentedModule();
    bypassUntraced([mod], { untraced: () => false });
    const headers = await send(mod.request, {});
    assert.deepEqual(tracedCalls, ['request']);
    assert.equal(headers.traceparent, undefined, 'this stand-in instrumentation adds none');
  });

  it('GIVEN untraced calls WHEN ids are made THEN each is new and says not sampled', () => {
    const a = untracedTraceparent();
    const b = untracedTraceparent();
    assert.match(a, NOT_SAMPLED);
    assert.notEqual(a, b);
  });
});
