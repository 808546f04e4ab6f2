import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { ApiClient } from '../cli/client.ts';
import { isRampartError } from '../platform/errors.ts';
import { endOpenStreams, ndjson } from './ndjson.ts';

const HEARTBEAT_MS = 40;

/** Reads raw chunks of a streaming answer for `ms`, then stops. */
async function readFor(url: string, ms: number): Promise<string> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  const stop = setTimeout(() => controller.abort(), ms);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  } finally {
    clearTimeout(stop);
  }
  return text;
}

describe('NDJSON answers (a real server and the CLI client)', () => {
  let app: FastifyInstance;
  let base: string;
  const streams: { closed(): boolean }[] = [];

  before(async () => {
    app = Fastify({ logger: false, forceCloseConnections: true });
    // A follow that never has anything to say.
    app.get('/quiet', async (_req, reply) => {
      streams.push(ndjson(reply, HEARTBEAT_MS));
    });
    // A follow that sends a line more often than the heartbeat.
    app.get('/busy', async (_req, reply) => {
      const out = ndjson(reply, HEARTBEAT_MS);
      let n = 0;
      const timer = setInterval(() => out.send({ n: n++ }), HEARTBEAT_MS / 4);
      reply.raw.on('close', () => clearInterval(timer));
    });
    // A daemon that goes away in the middle of an answer.
    app.get('/cut', async (_req, reply) => {
      const out = ndjson(reply, HEARTBEAT_MS);
      out.send({ first: true });
      setTimeout(() => reply.raw.socket?.destroy(), 20);
    });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await app.close();
  });

  it('GIVEN a follow with nothing to send WHEN the client waits THEN blank lines keep the connection alive, and stop when it goes', async () => {
    const text = await readFor(`${base}/quiet`, HEARTBEAT_MS * 5);
    assert.match(text, /^\n{2,}$/, `expected only heartbeats, got ${JSON.stringify(text)}`);
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS));
    assert.equal(streams.at(-1)?.closed(), true);
  });

  it('GIVEN a follow that sends lines WHEN they come more often than the heartbeat THEN no blank line is added', async () => {
    const text = await readFor(`${base}/busy`, HEARTBEAT_MS * 5);
    const lines = text.split('\n').slice(0, -1);
    assert.ok(lines.length >= 5, `got ${lines.length} lines`);
    assert.deepEqual(
      lines.filter((l) => l === ''),
      [],
    );
  });

  it('GIVEN the CLI client WHEN it follows THEN heartbeats are skipped, and a daemon that goes away is a clear error', async () => {
    const client = new ApiClient(base, 'token');
    const items: unknown[] = [];
    const controller = new AbortController();
    setTimeout(() => controller.abort(), HEARTBEAT_MS * 4);
    await client.stream('GET', '/quiet', { signal: controller.signal }, (item) => items.push(item));
    assert.deepEqual(items, []);

    const cut: unknown[] = [];
    await assert.rejects(
      client.stream('GET', '/cut', {}, (item) => cut.push(item)),
      (error: unknown) =>
        isRampartError(error) &&
        error.code === 'RAMPART_E_DAEMON_UNREACHABLE' &&
        /ended GET \/cut early/.test(error.message),
    );
    assert.deepEqual(cut, [{ first: true }]);
  });
});

describe('a closing server', () => {
  it('GIVEN a client following an NDJSON answer WHEN the server closes THEN the answer ends and close does not wait for the client', async () => {
    const app = Fastify({ logger: false });
    app.addHook('preClose', async () => endOpenStreams(app));
    // In an encapsulated scope, as the observability routes are.
    await app.register(async (scope) => {
      scope.get('/follow', async (_req, reply) => {
        ndjson(reply).send({ hello: 1 });
      });
    });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const items: unknown[] = [];
    const following = new ApiClient(base, 'token').stream('GET', '/follow', {}, (item) => items.push(item));
    while (items.length === 0) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    await app.close();
    await following;
    assert.deepEqual(items, [{ hello: 1 }]);
    assert.ok(Date.now() - started < 5000, `close took ${Date.now() - started} ms`);
  });
});
