// The shapes of pg's `query` that the preload's statement spans must keep (pg.cjs), on a stand-in
// for pg's Client. The real pg against a real PostgreSQL server is test/privileged/preload-pg.test.ts.
import * as api from '@opentelemetry/api';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { isTracingSuppressed } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';

const require = createRequire(import.meta.url);
const { createTracerProvider } = require('./tracer.cjs') as {
  createTracerProvider(o: {
    api: typeof api;
    resource: unknown;
    processor: { onStart(): void; onEnd(span: ReadableSpan): void };
    isSuppressed: (ctx: api.Context) => boolean;
    env?: Record<string, string>;
  }): api.TracerProvider;
};
interface PatchOptions {
  api: typeof api;
  tracer: api.Tracer;
  isSuppressed: (ctx: api.Context) => boolean;
}
const { patchClient, patchPool, operationOf } = require('./pg.cjs') as {
  patchClient(Client: unknown, o: PatchOptions): void;
  patchPool(Pool: unknown, o: PatchOptions): void;
  operationOf(text: string | undefined): string | undefined;
};

type Callback = (error: Error | undefined, result?: { rows: unknown[] }) => void;
interface Submittable extends EventEmitter {
  submit(): void;
  callback?: Callback;
}

/** pg's Client as far as `query` and `connect` go: the same three shapes, answered on the next turn. */
class FakeClient {
  connectionParameters = { host: 'maindb', port: 5432, database: 'shop' };
  database = 'shop';

  query(
    config: string | { text: string; callback?: Callback } | Submittable,
    values?: unknown,
    callback?: Callback,
  ) {
    if (typeof config === 'object' && 'submit' in config) {
      if (!config.callback) {
        if (typeof values === 'function') config.callback = values as Callback;
        else if (callback) config.callback = callback;
      }
      setImmediate(() => (config.callback ? config.callback(undefined, { rows: [] }) : config.emit('end')));
      return config;
    }
    const text = typeof config === 'string' ? config : config.text;
    if (text === 'THROW') throw new TypeError('Client was passed a null or undefined query');
    const error = text.includes('missing')
      ? Object.assign(new Error('relation "missing" does not exist'), { code: '42P01' })
      : undefined;
    const cb =
      typeof values === 'function'
        ? (values as Callback)
        : (callback ?? (typeof config === 'object' ? config.callback : undefined));
    if (cb) {
      setImmediate(() => cb(error, error ? undefined : { rows: [] }));
      return undefined;
    }
    return new Promise((resolve, reject) =>
      setImmediate(() => (error ? reject(error) : resolve({ rows: [] }))),
    );
  }

  connect(callback?: (error?: Error) => void) {
    if (callback) return void setImmediate(() => callback());
    return Promise.resolve(this);
  }
}

/** pg-pool's Pool as far as `connect(callback)` goes: it calls back from whatever released a client. */
class FakePool {
  waiting: ((error: Error | undefined, client: FakeClient) => void)[] = [];
  connect(callback: (error: Error | undefined, client: FakeClient) => void) {
    this.waiting.push(callback);
  }
  release() {
    this.waiting.shift()?.(undefined, new FakeClient());
  }
}

describe('preload pg spans', () => {
  const manager = new AsyncLocalStorageContextManager();
  const ended: ReadableSpan[] = [];
  const tracer = createTracerProvider({
    api,
    resource: resourceFromAttributes({ 'service.name': 'test' }),
    processor: { onStart: () => undefined, onEnd: (s) => ended.push(s) },
    isSuppressed: isTracingSuppressed,
    env: {},
  }).getTracer('t');
  patchClient(FakeClient, { api, tracer, isSuppressed: isTracingSuppressed });
  patchPool(FakePool, { api, tracer, isSuppressed: isTracingSuppressed });

  before(() => api.context.setGlobalContextManager(manager.enable()));
  after(() => api.context.disable());

  /** Runs `fn` inside a recording span; resolves with the statement spans that ended under it. */
  const traced = async (fn: () => unknown): Promise<ReadableSpan[]> => {
    const parent = tracer.startSpan('request');
    ended.length = 0;
    await api.context.with(trace.setSpan(ROOT_CONTEXT, parent), fn);
    parent.end();
    return ended.filter((s) => s !== (parent as unknown));
  };

  it('GIVEN SQL text THEN the operation is its first keyword, past comments', () => {
    assert.equal(operationOf('select 1'), 'SELECT');
    assert.equal(
      operationOf('  /* a\n comment */ -- and another\n  WITH x AS (SELECT 1) SELECT * FROM x'),
      'WITH',
    );
    assert.equal(operationOf(undefined), undefined);
    assert.equal(operationOf('/* only */'), undefined);
  });

  it('GIVEN no recording span WHEN a statement runs THEN no span, and pg answers as it would', async () => {
    ended.length = 0;
    const client = new FakeClient();
    const result = await client.query('SELECT 1');
    assert.deepEqual(result, { rows: [] });
    assert.equal(ended.length, 0);
  });

  it('GIVEN a promise statement WHEN it fails THEN the caller gets the very promise and error, the span says why', async () => {
    const client = new FakeClient();
    let promise: unknown;
    let caught: unknown;
    const spans = await traced(async () => {
      promise = client.query('SELECT * FROM missing WHERE id = $1', ['secret-value']);
      caught = await (promise as Promise<unknown>).catch((e: unknown) => e);
    });
    assert.ok(promise instanceof Promise);
    assert.equal((caught as { code: string }).code, '42P01');
    assert.equal(spans.length, 1);
    const [span] = spans;
    assert.equal(span!.name, 'SELECT shop');
    assert.equal(span!.kind, api.SpanKind.CLIENT);
    assert.deepEqual(span!.attributes, {
      'db.system.name': 'postgresql',
      'db.namespace': 'shop',
      'server.address': 'maindb',
      'server.port': 5432,
      'db.operation.name': 'SELECT',
      'db.query.text': 'SELECT * FROM missing WHERE id = $1',
      'db.response.status_code': '42P01',
      'error.type': '42P01',
    });
    assert.deepEqual(span!.status, {
      code: api.SpanStatusCode.ERROR,
      message: 'relation "missing" does not exist',
    });
  });

  it('GIVEN a callback, a config callback or a submittable THEN each ends its span when pg answers', async () => {
    const client = new FakeClient();
    const spans = await traced(async () => {
      await new Promise<void>((resolve) => client.query('INSERT INTO t VALUES ($1)', [1], () => resolve()));
      await new Promise<void>((resolve) =>
        client.query({ text: 'update t set a = 1', callback: () => resolve() }),
      );
      const cursor = Object.assign(new EventEmitter(), { submit() {} }) as Submittable;
      void client.query(cursor);
      await new Promise((resolve) => cursor.once('end', resolve));
    });
    assert.deepEqual(
      spans.map((s) => [s.name, s.status.code]),
      [
        ['INSERT shop', api.SpanStatusCode.UNSET],
        ['UPDATE shop', api.SpanStatusCode.UNSET],
        ['shop', api.SpanStatusCode.UNSET],
      ],
    );
  });

  it('GIVEN pg throws at once WHEN a statement is made THEN the error reaches the caller and the span ends with it', async () => {
    const client = new FakeClient();
    const spans = await traced(() => assert.throws(() => client.query('THROW'), TypeError));
    assert.equal(spans.length, 1);
    assert.equal(spans[0]!.status.code, api.SpanStatusCode.ERROR);
    assert.equal(spans[0]!.attributes['error.type'], 'TypeError');
  });

  it('GIVEN a new connection in a traced request THEN it is a connect span; a pool callback keeps its caller’s trace', async () => {
    const pool = new FakePool();
    let caller: api.Span | undefined;
    let inCallback: api.Span | undefined;
    const spans = await traced(async () => {
      caller = trace.getActiveSpan();
      await new Promise<void>((resolve) => new FakeClient().connect(() => resolve()));
      pool.connect(() => (inCallback = trace.getActiveSpan()));
    });
    assert.deepEqual(
      spans.map((s) => s.name),
      ['connect'],
    );
    // Released from outside any trace: the callback still runs in its caller's context.
    api.context.with(ROOT_CONTEXT, () => pool.release());
    assert.ok(caller !== undefined);
    assert.equal(inCallback, caller);
  });
});
