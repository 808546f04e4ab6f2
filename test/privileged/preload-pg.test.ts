// The tracing preload's PostgreSQL spans (src/observe/preload/pg.cjs) against a real PostgreSQL 15
// server: services that know nothing of OpenTelemetry, one CommonJS and one ES module, query it
// through pg's pool in each of pg's shapes (promise, callback, a failing statement, a statement
// that waits for the pool's only client), and their spans are read back from an OTLP receiver.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { SpanRecord } from '../../src/observe/types.ts';
import { startPreloadHarness, type PreloadHarness } from '../../src/testing/preload-services.ts';
import {
  postgresTestSkipReason,
  startPostgresForTest,
  type TestPostgres,
} from '../../src/testing/postgres.ts';

// The same routes in both module systems; the pool has one client, so concurrent requests queue.
const ROUTES = `
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
const server = http.createServer(async (req, res) => {
  try {
    if (req.url === '/promise') {
      const r = await pool.query('SELECT $1::int AS n', [7]);
      return res.end(String(r.rows[0].n));
    }
    if (req.url === '/callback') {
      const client = await pool.connect();
      return client.query('/* why */ select 2 AS n', (err, r) => {
        client.release();
        res.end(err ? err.code : String(r.rows[0].n));
      });
    }
    if (req.url === '/missing') {
      const e = await pool.query('SELECT * FROM no_such_table').catch((error) => error);
      return res.end(e.code);
    }
    if (req.url === '/slow') {
      await pool.query('SELECT pg_sleep(0.3)');
      return res.end('slept');
    }
    res.statusCode = 404;
    res.end();
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e.message));
  }
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
`;
const SERVICE_CJS = `const http = require('node:http');\nconst pg = require(process.env.PG_PATH);\n${ROUTES}`;
const SERVICE_ESM = `import http from 'node:http';\nconst { default: pg } = await import(process.env.PG_URL);\n${ROUTES}`;

const skip = postgresTestSkipReason();

describe('tracing preload: PostgreSQL statements', { skip, timeout: 120_000 }, () => {
  let postgres: TestPostgres;
  let dir: string;
  let harness: PreloadHarness;

  before(async () => {
    postgres = await startPostgresForTest();
    dir = mkdtempSync(join(tmpdir(), 'rampart-preload-pg-'));
    writeFileSync(join(dir, 'db.cjs'), SERVICE_CJS);
    writeFileSync(join(dir, 'db.mjs'), SERVICE_ESM);
    harness = await startPreloadHarness(dir);
  });

  after(async () => {
    await harness?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await postgres?.stop();
  });

  const start = async (file: string, service: string): Promise<{ url: string }> => {
    const pgPath = createRequire(import.meta.url).resolve('pg');
    const { port } = await harness.start(file, service, {
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      // Exported as soon as they end, so that the test need not wait for the 5 s batch.
      OTEL_BSP_SCHEDULE_DELAY: '50',
      DATABASE_URL: postgres.url,
      PG_PATH: pgPath,
      PG_URL: pathToFileURL(pgPath).href,
    });
    return { url: `http://127.0.0.1:${port}` };
  };

  /** The spans of the trace whose server span answered `path`, once its statement spans arrived. */
  const traceOf = async (service: string, path: string, statements: number): Promise<SpanRecord[]> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      for (const t of harness.observe.traces.listTraces({ service })) {
        const spans = harness.observe.traces.getTrace(t.traceId);
        const root = spans.find((s) => s.kind === 'server' && s.attributes['url.path'] === path);
        if (root && spans.filter((s) => s.attributes['db.query.text'] !== undefined).length >= statements)
          return spans;
      }
      if (Date.now() > deadline)
        throw new Error(`no trace of ${service} ${path} with ${statements} statement(s)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  for (const [file, service] of [
    ['db.cjs', 'dbcjs'],
    ['db.mjs', 'dbesm'],
  ] as const) {
    it(`GIVEN ${file.endsWith('.mjs') ? 'an ES module' : 'a CommonJS'} service WHEN it queries THEN each statement is a span of its request's trace`, async () => {
      const { url } = await start(file, service);
      // Two traced requests at once with one pooled client: /promise's statement waits for the
      // client /slow holds, and pg-pool calls it back from /slow's release.
      const [slow, queued] = await Promise.all([
        fetch(`${url}/slow`).then((r) => r.text()),
        new Promise((r) => setTimeout(r, 50)).then(() => fetch(`${url}/promise`).then((r) => r.text())),
      ]);
      assert.deepEqual([slow, queued], ['slept', '7']);
      assert.equal(await (await fetch(`${url}/callback`)).text(), '2');
      assert.equal(await (await fetch(`${url}/missing`)).text(), '42P01');
      // Untraced (the caller's traceparent says "not sampled"): no statement span at all.
      const untraced = await fetch(`${url}/promise`, {
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' },
      });
      assert.equal(await untraced.text(), '7');

      const slowTrace = await traceOf(service, '/slow', 1);
      const slowRoot = slowTrace.find((s) => s.kind === 'server')!;
      const statements = (spans: SpanRecord[]) =>
        spans.filter((s) => s.attributes['db.query.text'] !== undefined);
      assert.deepEqual(
        statements(slowTrace).map((s) => s.attributes['db.query.text']),
        ['SELECT pg_sleep(0.3)'],
        'the queued statement is not in the trace of the request that released the client',
      );
      // The pool opened its connection for /slow: one `connect` span, no span for pool checkouts.
      assert.deepEqual(
        slowTrace
          .filter((s) => s.kind === 'client')
          .map((s) => s.operation)
          .sort(),
        ['SELECT postgres', 'connect'],
      );
      const [sleep] = statements(slowTrace);
      assert.equal(sleep!.parentSpanId, slowRoot.spanId);
      assert.equal(sleep!.attributes['db.system.name'], 'postgresql');
      assert.equal(sleep!.attributes['db.namespace'], 'postgres');
      assert.equal(sleep!.attributes['db.operation.name'], 'SELECT');
      assert.equal(sleep!.attributes['server.address'], postgres.host);
      assert.equal(sleep!.attributes['server.port'], postgres.port);
      assert.ok(sleep!.durationNs >= 250e6, `the span lasts the statement (${sleep!.durationNs} ns)`);

      const queuedTrace = await traceOf(service, '/promise', 1);
      const [select] = statements(queuedTrace);
      assert.equal(select!.attributes['db.query.text'], 'SELECT $1::int AS n');
      assert.equal(select!.parentSpanId, queuedTrace.find((s) => s.kind === 'server')!.spanId);
      assert.ok(!JSON.stringify(select!.attributes).includes('"7"'), 'parameter values are not recorded');

      const [callback] = statements(await traceOf(service, '/callback', 1));
      assert.equal(callback!.operation, 'SELECT postgres');
      assert.equal(callback!.status, 'unset');

      const [missing] = statements(await traceOf(service, '/missing', 1));
      assert.equal(missing!.status, 'error');
      assert.match(String(missing!.statusMessage), /no_such_table/);
      assert.equal(missing!.attributes['db.response.status_code'], '42P01');
      assert.equal(missing!.attributes['error.type'], '42P01');

      // Everything traced has arrived; the untraced request's statement must not have.
      const all = harness.observe.traces
        .listTraces({ service })
        .flatMap((t) => harness.observe.traces.getTrace(t.traceId));
      assert.equal(all.filter((s) => s.kind === 'server').length, 4);
      assert.equal(statements(all).length, 4);
    });
  }
});
