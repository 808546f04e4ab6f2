import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { httpError, serve } from '../../lib/http.ts';
import { batchingClient, isUpstreamFailure, postJson } from './client.ts';

// A stand-in upstream built with the services' own `serve`: /double answers n * 2 after a short
// wait (so calls pile up behind one in flight), and a 400 for a negative n.
let server: http.Server;
let base = '';
const seen: string[] = [];

before(async () => {
  server = serve({
    name: 'upstream',
    port: 0,
    routes: [
      {
        method: 'POST',
        path: '/double',
        handler: async ({ body }) => {
          const n = (body as { n: number }).n;
          if (n < 0) throw httpError(400, { error: 'invalid request', field: 'n' });
          await new Promise((r) => setTimeout(r, 20));
          return { doubled: n * 2 };
        },
      },
    ],
  });
  server.on('request', (req: http.IncomingMessage) => seen.push(req.url ?? ''));
  if (!server.listening) await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

describe('POST /batch (lib/http serve)', () => {
  it('GIVEN calls of which one is bad and one has no route WHEN batched THEN each gets what it gets alone', async () => {
    const answer = await postJson<{ responses: { status: number; body: unknown }[] }>(
      `${base}/batch`,
      {
        requests: [
          { path: '/double', body: { n: 2 } },
          { path: '/double', body: { n: -1 } },
          { path: '/nowhere', body: {} },
          { path: '/batch', body: { requests: [] } },
        ],
      },
      2000,
    );
    assert.deepEqual(answer.responses, [
      { status: 200, body: { doubled: 4 } },
      { status: 400, body: { error: 'invalid request', field: 'n' } },
      { status: 404, body: { error: 'no route POST /nowhere' } },
      { status: 400, body: { error: 'invalid batch call', field: 'path' } },
    ]);
  });

  it('GIVEN a body without requests WHEN posted to /batch THEN 400 names the field', async () => {
    await assert.rejects(postJson(`${base}/batch`, { calls: [] }, 2000), (e: unknown) => {
      assert.ok(isUpstreamFailure(e));
      assert.equal(e.status, 400);
      assert.deepEqual(e.body, { error: 'invalid batch', field: 'requests', message: 'expected an array' });
      return true;
    });
  });
});

describe('batchingClient', () => {
  it('GIVEN a call in flight WHEN more calls come THEN they share one batch request and each gets its own answer', async () => {
    const call = batchingClient(base, { maxConcurrent: 1 });
    seen.length = 0;
    const first = call<{ doubled: number }>('/double', { n: 1 }, 2000);
    await new Promise((r) => setImmediate(r));
    const results = await Promise.allSettled([
      first,
      ...[2, 3, -4, 5].map((n) => call<{ doubled: number }>('/double', { n }, 2000)),
    ]);
    // The first call leaves alone (nothing was in flight); the four that waited leave together.
    assert.deepEqual(seen, ['/double', '/batch']);
    assert.deepEqual(
      results.map((r) =>
        r.status === 'fulfilled' ? r.value.doubled : (r.reason as { status: number }).status,
      ),
      [2, 4, 6, 400, 10],
    );
  });

  it('GIVEN calls made in one turn WHEN nothing is in flight THEN they leave together at once', async () => {
    const call = batchingClient(base, { maxConcurrent: 1 });
    seen.length = 0;
    await Promise.all([1, 2, 3].map((n) => call('/double', { n }, 2000)));
    assert.deepEqual(seen, ['/batch']);
  });

  it('GIVEN maxBatch 1 WHEN calls come at once THEN every call is its own plain request', async () => {
    const call = batchingClient(base, { maxBatch: 1, maxConcurrent: 8 });
    seen.length = 0;
    await Promise.all([1, 2, 3].map((n) => call('/double', { n }, 2000)));
    assert.deepEqual(seen, ['/double', '/double', '/double']);
  });

  it('GIVEN a call whose deadline passes while it waits WHEN the upstream is slow THEN that call fails with 504', async () => {
    const call = batchingClient(base, { maxConcurrent: 1 });
    const slow = call('/double', { n: 1 }, 2000);
    await assert.rejects(call('/double', { n: 2 }, 5), (e: unknown) => {
      assert.ok(isUpstreamFailure(e));
      assert.equal(e.status, 504);
      return true;
    });
    assert.deepEqual(await slow, { doubled: 2 });
  });
});

describe('postJson on pooled sockets', () => {
  it('GIVEN several pooled sockets to a replica that closes them all WHEN a call is sent THEN it is resent until a fresh connection answers', async () => {
    // A stopping replica: every connection opened before `stopping` is destroyed as soon as it
    // carries a request (what the kernel does to a socket a closing server had not read from).
    const { createServer } = await import('node:http');
    let stopping = false;
    const old = new WeakSet<object>();
    let answered = 0;
    const replica = createServer((req, res) => {
      if (stopping && old.has(req.socket)) {
        req.socket.destroy();
        return;
      }
      // Slow enough that the warm-up calls below hold one socket each.
      setTimeout(() => {
        answered++;
        res.end(JSON.stringify({ ok: true }));
      }, 30);
    });
    replica.on('connection', (s) => {
      if (!stopping) old.add(s);
    });
    await new Promise<void>((r) => replica.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(replica.address() as AddressInfo).port}/x`;
      await Promise.all([1, 2, 3, 4].map(() => postJson(url, {}, 2000)));
      stopping = true;
      assert.deepEqual(await postJson(url, {}, 2000), { ok: true });
      assert.equal(answered, 5);
    } finally {
      replica.closeAllConnections();
      replica.close();
    }
  });
});

describe('batchingClient and tracing', () => {
  it('GIVEN a sampled call batched with others WHEN sent THEN its trace travels in the batch body and the upstream runs it in a server span of that trace, while the request belongs to none', async () => {
    const { context, propagation, trace, TraceFlags } = await import('@opentelemetry/api');
    const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
    const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
    const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } =
      await import('@opentelemetry/sdk-trace-base');
    const { serve } = await import('../../lib/http.ts');
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
    const ranIn: Record<string, string | undefined> = {};
    const bodies: unknown[] = [];
    const upstream = serve({
      name: 'traced-upstream',
      port: 0,
      routes: [
        {
          method: 'POST',
          path: '/echo',
          handler: async ({ body }) => {
            const n = (body as { n: string }).n;
            ranIn[n] = trace.getActiveSpan()?.spanContext().traceId;
            await new Promise((r) => setTimeout(r, 15));
            return { n };
          },
        },
      ],
    });
    upstream.prependListener('request', (req: http.IncomingMessage) => {
      if (req.url !== '/batch') return;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    });
    if (!upstream.listening) await new Promise((r) => upstream.once('listening', r));
    try {
      const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
      const tracer = provider.getTracer('test');
      const call = batchingClient(url, { maxConcurrent: 1 });
      const unsampled = trace.wrapSpanContext({
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: '00f067aa0ba902b7',
        traceFlags: TraceFlags.NONE,
      });
      const assessment = tracer.startSpan('assessment');
      const inSpan = (span: typeof assessment, n: string) =>
        context.with(trace.setSpan(context.active(), span), () => call('/echo', { n }, 2000));
      // Calls made in one turn leave together as one batch.
      await Promise.all([inSpan(unsampled, 'u1'), inSpan(assessment, 's1'), inSpan(unsampled, 'u2')]);
      assessment.end();

      assert.equal(bodies.length, 1);
      const calls = (bodies[0] as { requests: { body: { n: string }; trace?: { traceparent: string } }[] })
        .requests;
      assert.deepEqual(
        calls.map((c) => [c.body.n, c.trace !== undefined]),
        [
          ['u1', false],
          ['s1', true],
          ['u2', false],
        ],
      );
      const traceId = assessment.spanContext().traceId;
      assert.equal(ranIn.s1, traceId);
      assert.notEqual(ranIn.u1, traceId);
      const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      const client = spans.find((s) => s.kind === 2 /* CLIENT */);
      const server = spans.find((s) => s.kind === 1 /* SERVER */);
      assert.equal(client?.name, 'POST /echo');
      assert.equal(client?.parentSpanContext?.spanId, assessment.spanContext().spanId);
      assert.equal(server?.name, 'POST /echo');
      assert.equal(server?.parentSpanContext?.spanId, client?.spanContext().spanId);
      assert.equal(server?.attributes['http.response.status_code'], 200);
      assert.equal(client?.attributes['http.response.status_code'], 200);
      // Only the assessment's own spans are in its trace: the batch request made none there.
      assert.equal(spans.length, 3);
    } finally {
      upstream.closeAllConnections();
      upstream.close();
      trace.disable();
      propagation.disable();
      context.disable();
    }
  });
});
