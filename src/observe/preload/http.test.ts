import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
} from '@opentelemetry/api';
import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { isTracingSuppressed, suppressTracing, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, beforeEach, describe, it } from 'node:test';

const require = createRequire(import.meta.url);
const { instrumentHttp } = require('./http.cjs') as {
  instrumentHttp(modules: object[], o: object): void;
};

const NOT_SAMPLED = /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/;
const SAMPLED_PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** The preload's two context managers (context.cjs, context-native.cjs), as http.cjs uses them. */
interface PreloadContextManager extends api.ContextManager {
  runMessage(
    ctx: Context,
    req: object,
    res: object | undefined,
    fn: (...args: unknown[]) => unknown,
    thisArg: unknown,
    args: ArrayLike<unknown>,
  ): unknown;
  bindMessage(message: object, ctx: Context): void;
  spanStarted(): void;
  spanEnded(): void;
  enable(http?: object[]): this;
}
const { createLazyContextManager } = require('./context.cjs') as {
  createLazyContextManager(a: typeof api, b: typeof AsyncLocalStorageContextManager): PreloadContextManager;
};
const { createNativeContextManager } = require('./context-native.cjs') as {
  createNativeContextManager(
    a: typeof api,
    slot: unknown,
    b: typeof AsyncLocalStorageContextManager,
  ): PreloadContextManager;
};
const { loadNativeContext, nativeContextPath } = require('./native/index.cjs') as {
  loadNativeContext(): unknown;
  nativeContextPath(): string;
};

const managers: Record<string, () => PreloadContextManager> = {
  'AsyncLocalStorage while tracing': () => createLazyContextManager(api, AsyncLocalStorageContextManager),
  'native continuation slot': () => {
    const slot = loadNativeContext();
    assert.ok(
      slot,
      `the native context module loads (build it: node scripts/build-native.mjs): ${nativeContextPath()}`,
    );
    return createNativeContextManager(api, slot, AsyncLocalStorageContextManager);
  },
};
/** The manager of the suite running now: the processor counts its recording spans. */
let contextManager: PreloadContextManager;

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  spanProcessors: [
    {
      onStart: () => contextManager.spanStarted(),
      onEnd: () => contextManager.spanEnded(),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    },
    new SimpleSpanProcessor(exporter),
  ],
});
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const tracer = provider.getTracer('test');

/**
 * Stand-ins for `node:http` (the real module is not patched by this test): Node's own `request`,
 * and a Server subclass whose prototype gets the `emit` wrapper.
 */
class TestServer extends http.Server {}
function instrumented(Server: typeof http.Server, decideIncoming?: (traceparent: unknown) => boolean) {
  const mod = { Server, request: http.request, get: http.get };
  instrumentHttp([mod], {
    api,
    tracer,
    isSuppressed: isTracingSuppressed,
    suppressed: suppressTracing(ROOT_CONTEXT),
    runMessage: (...a: Parameters<PreloadContextManager['runMessage']>) => contextManager.runMessage(...a),
    bindMessage: (message: object, ctx: Context) => contextManager.bindMessage(message, ctx),
    ignored: (url: string) => url === '/healthz',
    decideIncoming,
  });
  return mod as { request: typeof http.request; get: typeof http.get };
}

const mod = instrumented(TestServer);

/** What the handler saw: the request's headers and the context its body's end ran in. */
interface Seen {
  headers: IncomingHttpHeaders;
  spanContext: api.SpanContext | undefined;
}

for (const [managerName, makeManager] of Object.entries(managers))
  describe(`HTTP spans of the tracing preload (${managerName})`, () => {
    let server: TestServer;
    let port: number;
    let status = 200;
    const seen: Seen[] = [];

    before(async () => {
      contextManager = makeManager();
      context.disable();
      context.setGlobalContextManager(contextManager.enable([http]));
      server = new TestServer((req: IncomingMessage, res: ServerResponse) => {
        req.resume();
        req.on('end', () => {
          seen.push({
            headers: req.headers,
            spanContext: trace.getActiveSpan()?.spanContext(),
          });
          res.statusCode = status;
          res.end('ok');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    after(() => {
      server.close();
      contextManager.disable();
      context.disable();
    });
    beforeEach(() => {
      exporter.reset();
      seen.length = 0;
      status = 200;
    });

    /** A call through `request`; resolves with the status after the body, and the callback's context. */
    const send = (
      request: typeof http.request,
      options: http.RequestOptions,
    ): Promise<{ status: number | undefined; callbackSpan: api.SpanContext | undefined }> =>
      new Promise((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method: 'POST', path: '/x?q=1', ...options },
          (res) => {
            const callbackSpan = trace.getActiveSpan()?.spanContext();
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode, callbackSpan }));
          },
        );
        req.on('error', reject);
        req.end('{}');
      });

    /** A call with `Expect: 100-continue` (Node renders such headers at construction): what the server saw. */
    const sendExpectingContinue = (): Promise<IncomingHttpHeaders> => {
      const req = mod.request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        headers: { expect: '100-continue' },
      });
      return new Promise<IncomingHttpHeaders>((resolve, reject) => {
        req.on('continue', () => req.end('{}'));
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(seen[0]!.headers));
        });
        req.on('error', reject);
      });
    };

    const spans = (kind: SpanKind): ReadableSpan[] =>
      exporter.getFinishedSpans().filter((s) => s.kind === kind);

    it('GIVEN a traced caller WHEN it calls THEN a client span carries the call and the server continues its trace', async () => {
      const parent = tracer.startSpan('caller');
      const answer = await context.with(trace.setSpan(ROOT_CONTEXT, parent), () =>
        send(mod.request, { headers: { 'content-type': 'application/json' } }),
      );
      parent.end();
      assert.equal(answer.status, 200);
      assert.equal(
        answer.callbackSpan?.spanId,
        parent.spanContext().spanId,
        'callback in the caller’s context',
      );

      const [client] = spans(SpanKind.CLIENT);
      const [serverSpan] = spans(SpanKind.SERVER);
      assert.ok(client && serverSpan);
      assert.equal(client.name, 'POST');
      assert.equal(client.parentSpanContext?.spanId, parent.spanContext().spanId);
      assert.deepEqual(
        {
          method: client.attributes['http.request.method'],
          address: client.attributes['server.address'],
          port: client.attributes['server.port'],
          url: client.attributes['url.full'],
          status: client.attributes['http.response.status_code'],
        },
        { method: 'POST', address: '127.0.0.1', port, url: `http://127.0.0.1:${port}/x?q=1`, status: 200 },
      );
      assert.equal(client.status.code, SpanStatusCode.UNSET);

      assert.equal(serverSpan.spanContext().traceId, parent.spanContext().traceId);
      assert.equal(serverSpan.parentSpanContext?.spanId, client.spanContext().spanId);
      assert.equal(serverSpan.name, 'POST');
      assert.equal(serverSpan.attributes['url.path'], '/x');
      assert.equal(serverSpan.attributes['url.query'], 'q=1');
      assert.equal(serverSpan.attributes['server.port'], port);
      assert.equal(serverSpan.attributes['server.address'], '127.0.0.1');
      assert.equal(serverSpan.attributes['http.response.status_code'], 200);
      const [handler] = seen;
      assert.equal(handler?.headers['content-type'], 'application/json');
      assert.equal(
        handler?.spanContext?.spanId,
        serverSpan.spanContext().spanId,
        'body events in the server span',
      );
    });

    it('GIVEN an untraced caller WHEN it calls with object headers THEN Node’s request carries a not-sampled traceparent and no span is made', async () => {
      await context.with(suppressTracing(ROOT_CONTEXT), () =>
        send(mod.request, { headers: { 'content-type': 'application/json' } }),
      );
      assert.match(String(seen[0]?.headers.traceparent), NOT_SAMPLED);
      assert.equal(seen[0]?.headers['content-type'], 'application/json');
      // The server made a span of the not-sampled trace, which records nothing.
      assert.deepEqual(exporter.getFinishedSpans(), []);
    });

    it('GIVEN a call outside any traced request (a job) WHEN it is made THEN no span, and it says not sampled', async () => {
      await send(mod.request, {});
      const notSampled = tracer.startSpan('dropped', {}, suppressTracing(ROOT_CONTEXT));
      await context.with(trace.setSpan(ROOT_CONTEXT, notSampled), () => send(mod.request, {}));
      assert.equal(seen.length, 2);
      for (const s of seen) assert.match(String(s.headers.traceparent), NOT_SAMPLED);
      assert.deepEqual(exporter.getFinishedSpans(), []);
    });

    it('GIVEN raw array headers WHEN untraced THEN the traceparent is appended to them', async () => {
      // Node adds no Host or framing header to raw ones, and its server refuses a request without Host.
      const raw = ['host', `127.0.0.1:${port}`, 'content-length', '2', 'x-order', '42'];
      await context.with(suppressTracing(ROOT_CONTEXT), () =>
        send(mod.request, { headers: raw as unknown as http.OutgoingHttpHeaders }),
      );
      assert.match(String(seen[0]?.headers.traceparent), NOT_SAMPLED);
      assert.equal(seen[0]?.headers['x-order'], '42');
    });

    it('GIVEN an Expect header (rendered at construction) WHEN untraced THEN the call still goes, without a traceparent', async () => {
      const headers = await context.with(suppressTracing(ROOT_CONTEXT), sendExpectingContinue);
      assert.equal(headers.traceparent, undefined);
    });

    it('GIVEN a traced caller with an Expect header WHEN it calls THEN the traceparent still goes (in the options, before Node renders them)', async () => {
      const parent = tracer.startSpan('caller');
      const headers = await context.with(trace.setSpan(ROOT_CONTEXT, parent), sendExpectingContinue);
      parent.end();
      assert.match(
        String(headers.traceparent),
        new RegExp(`^00-${parent.spanContext().traceId}-[0-9a-f]{16}-01$`),
      );
    });

    it('GIVEN a sampled traceparent WHEN a request arrives THEN its server span is a child of it; a 500 is an error', async () => {
      status = 500;
      await send(http.request, { headers: { traceparent: SAMPLED_PARENT } });
      const [serverSpan] = spans(SpanKind.SERVER);
      assert.equal(serverSpan?.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
      assert.equal(serverSpan?.parentSpanContext?.spanId, 'b7ad6b7169203331');
      assert.equal(serverSpan?.attributes['http.response.status_code'], 500);
      assert.equal(serverSpan?.status.code, SpanStatusCode.ERROR);
    });

    it('GIVEN a traced request WHEN its handler calls from its body’s end, after awaits, timers, ticks and a response’s events THEN every call is a child of its server span', async () => {
      const call = () =>
        new Promise<void>((resolve, reject) => {
          const r = mod.request({ host: '127.0.0.1', port, method: 'POST', path: '/x' }, (res) => {
            res.resume();
            res.on('end', resolve);
          });
          r.on('error', reject);
          r.end('{}');
        });
      const later = (schedule: (fn: () => void) => void) =>
        new Promise<void>((resolve, reject) => schedule(() => void call().then(resolve, reject)));
      const fanout = new TestServer((req, res) => {
        req.resume();
        req.on('end', async () => {
          await call(); // in the body's 'end' event
          await call(); // after an await
          await later((fn) => setTimeout(fn, 1));
          await later((fn) => setImmediate(fn));
          await later((fn) => process.nextTick(fn));
          await later((fn) => queueMicrotask(fn));
          // in the events of a call's response
          await new Promise<void>((resolve, reject) => {
            const r = mod.request({ host: '127.0.0.1', port, method: 'POST', path: '/x' }, (r1) => {
              r1.resume();
              r1.on('end', () => void call().then(resolve, reject));
            });
            r.end('{}');
          });
          res.end('ok');
        });
      });
      await new Promise<void>((resolve) => fanout.listen(0, '127.0.0.1', resolve));
      try {
        const fanoutPort = (fanout.address() as { port: number }).port;
        assert.equal((await send(http.request, { port: fanoutPort, path: '/fanout' })).status, 200);
      } finally {
        fanout.close();
      }
      const root = spans(SpanKind.SERVER).find((s) => s.attributes['url.path'] === '/fanout');
      assert.ok(root, 'the fan-out request is traced');
      const calls = spans(SpanKind.CLIENT);
      assert.equal(calls.length, 8);
      for (const c of calls) {
        assert.equal(c.spanContext().traceId, root.spanContext().traceId);
        assert.equal(c.parentSpanContext?.spanId, root.spanContext().spanId);
      }
    });

    it('GIVEN an ignored path WHEN it is requested THEN no span, and the handler runs untraced', async () => {
      await send(http.request, { path: '/healthz', headers: { traceparent: SAMPLED_PARENT } });
      assert.deepEqual(exporter.getFinishedSpans(), []);
      // Untraced is stored as no context at all (context.cjs): no span, whatever the caller sent.
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.spanContext, undefined);
    });

    it('GIVEN decideIncoming says no WHEN a request arrives THEN no span, and its calls say not sampled', async () => {
      const decided: unknown[] = [];
      class DecidingServer extends http.Server {}
      const m = instrumented(DecidingServer, (traceparent) => {
        decided.push(traceparent);
        return false;
      });
      const inner = new DecidingServer((req, res) => {
        req.resume();
        req.on('end', () => {
          const call = m.request({ host: '127.0.0.1', port, method: 'POST', path: '/' }, (r) => {
            r.resume();
            r.on('end', () => res.end('ok'));
          });
          call.end('{}');
        });
      });
      await new Promise<void>((resolve) => inner.listen(0, '127.0.0.1', resolve));
      try {
        const innerPort = (inner.address() as { port: number }).port;
        await send(http.request, { port: innerPort, path: '/' });
      } finally {
        inner.close();
      }
      assert.ok(decided.includes(undefined), 'the new root was decided on');
      assert.match(String(seen[0]?.headers.traceparent), NOT_SAMPLED);
      assert.deepEqual(exporter.getFinishedSpans(), []);
    });

    it('GIVEN a traced get() WHEN the server is not there THEN the request is ended and its span is an error', async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as { port: number }).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const parent = tracer.startSpan('caller');
      const error = await context.with(
        trace.setSpan(ROOT_CONTEXT, parent),
        () =>
          new Promise<Error>((resolve) => {
            mod.get(`http://127.0.0.1:${closedPort}/gone`).on('error', resolve);
          }),
      );
      parent.end();
      assert.equal((error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      const [client] = spans(SpanKind.CLIENT);
      assert.equal(client?.name, 'GET');
      assert.equal(client?.attributes['url.full'], `http://127.0.0.1:${closedPort}/gone`);
      assert.equal(client?.status.code, SpanStatusCode.ERROR);
      assert.equal(client?.attributes['http.response.status_code'], undefined);
    });

    it('GIVEN a traced call whose caller ignores the response WHEN it is answered THEN the response is still read and the span ends', async () => {
      const parent = tracer.startSpan('caller');
      await context.with(trace.setSpan(ROOT_CONTEXT, parent), () => {
        const req = mod.request({ host: '127.0.0.1', port, method: 'POST', path: '/' });
        req.end('{}');
        return new Promise<void>((resolve) => req.on('close', () => resolve()));
      });
      parent.end();
      const [client] = spans(SpanKind.CLIENT);
      assert.equal(client?.attributes['http.response.status_code'], 200);
    });

    it('GIVEN Node’s objects WHEN a traced request has passed THEN no own property was added to them', async () => {
      let seenReq: IncomingMessage | undefined;
      let seenRes: ServerResponse | undefined;
      const probe = new TestServer((req, res) => {
        seenReq = req;
        seenRes = res;
        req.resume();
        req.on('end', () => res.end('ok'));
      });
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const probePort = (probe.address() as { port: number }).port;
      const plain = await new Promise<[string[], string[]]>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: probePort, method: 'POST', path: '/' }, (res) => {
          res.resume();
          res.on('end', () => resolve([Object.keys(req), Object.keys(res)]));
        });
        req.end('{}');
      });
      const plainServer = [Object.keys(seenReq!), Object.keys(seenRes!)];
      const parent = tracer.startSpan('caller');
      const traced = await context.with(
        trace.setSpan(ROOT_CONTEXT, parent),
        () =>
          new Promise<[string[], string[]]>((resolve) => {
            const req = mod.request(
              { host: '127.0.0.1', port: probePort, method: 'POST', path: '/' },
              (res) => {
                res.resume();
                res.on('end', () => resolve([Object.keys(req), Object.keys(res)]));
              },
            );
            req.end('{}');
          }),
      );
      parent.end();
      probe.close();
      // Both were traced on the server side (no decideIncoming: the sampler keeps every root).
      assert.ok(spans(SpanKind.SERVER).some((s) => s.spanContext().traceId === parent.spanContext().traceId));
      assert.deepEqual(traced, plain, 'client request and response: the same own keys as an untraced call');
      assert.deepEqual([Object.keys(seenReq!), Object.keys(seenRes!)], plainServer, 'server side likewise');
    });
  });
