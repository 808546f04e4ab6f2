import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LogLine } from '../logs/index.ts';
import { LogStore } from './logs.ts';
import type { LogInput, StoredLog } from './types.ts';

const T0 = Date.UTC(2024, 0, 1);

function line(over: Partial<LogLine> = {}): LogLine {
  return {
    time: T0,
    environment: 'prod',
    namespace: 'default',
    service: 'gateway',
    replica: 0,
    stream: 'stdout',
    message: 'hello',
    ...over,
  };
}

function seed(store: LogStore): void {
  const records: LogInput[] = [
    { time: T0, service: 'gateway', environment: 'prod', level: 'info', message: 'GET /healthz 200' },
    {
      time: T0 + 60_000,
      service: 'gateway',
      environment: 'prod',
      level: 'error',
      message: 'upstream timeout calling identity',
      attributes: { http: { status: 504 } },
    },
    {
      time: T0 + 120_000,
      service: 'identity',
      environment: 'prod',
      level: 'error',
      message: 'db timeout',
      attributes: { 'http.status': 500 },
    },
    {
      time: T0 + 180_000,
      service: 'gateway',
      environment: 'staging',
      level: 'warn',
      message: 'slow: timeout nearly reached',
    },
    {
      time: T0 + 240_000,
      service: 'gateway',
      environment: 'prod',
      level: 'error',
      message: 'connection refused',
      traceId: 'ab'.repeat(16),
    },
  ];
  store.insert(records);
}

const messages = (logs: StoredLog[]) => logs.map((l) => l.message);

describe('log store', () => {
  it('GIVEN lines WHEN searched with fields and text THEN only matches, newest first', () => {
    const store = new LogStore({ path: ':memory:' });
    seed(store);
    assert.deepEqual(messages(store.search({ query: 'service:gateway level:error "timeout"' })), [
      'upstream timeout calling identity',
    ]);
    assert.deepEqual(messages(store.search({ query: 'timeout -service:identity' })), [
      'slow: timeout nearly reached',
      'upstream timeout calling identity',
    ]);
    assert.deepEqual(messages(store.search({ query: 'http.status>=500' })), [
      'db timeout',
      'upstream timeout calling identity',
    ]);
    assert.deepEqual(messages(store.search({ query: `trace:${'AB'.repeat(16)}` })), ['connection refused']);
    assert.deepEqual(messages(store.search({ query: 'level:error', environment: 'prod', limit: 1 })), [
      'connection refused',
    ]);
    assert.equal(store.search({ query: '-healthz -timeout' }).length, 1);
    store.close();
  });

  it('GIVEN words with selective fields WHEN searched THEN reading the field index finds what full-text finds', () => {
    const store = new LogStore({ path: ':memory:' });
    const texts = [
      'Request TIMED-OUT after 3s',
      'timed out',
      'timeout',
      'out timed',
      'café timed out: retrying',
      'naïve retry-after header',
      'GET /healthz timed out',
      'timed_out',
    ];
    store.insert(
      texts.flatMap((message, i) => ['a', 'b'].map((service) => ({ time: T0 + i, service, message }))),
    );
    for (const words of [
      '"timed out"',
      'retry*',
      'cafe',
      'naive',
      '"timed out" -healthz',
      'timeout',
      'timed_out',
    ]) {
      // With `service:a`, few rows: the scan plan; without, the full-text index (then filtered by service here).
      const scan = messages(store.search({ query: `service:a ${words}` }));
      const fts = store.search({ query: words }).filter((l) => l.service === 'a');
      assert.deepEqual(scan, messages(fts), words);
    }
    assert.equal(store.search({ query: 'service:a "timed out"' }).length, 5); // '_' separates words too
    store.close();
  });

  it('GIVEN since and until WHEN searched THEN the time range is exact', () => {
    const store = new LogStore({ path: ':memory:' });
    seed(store);
    assert.deepEqual(messages(store.search({ since: T0 + 120_000, until: T0 + 180_000 })), [
      'slow: timeout nearly reached',
      'db timeout',
    ]);
    assert.deepEqual(messages(store.search({ query: 'timeout', since: T0 + 61_000 })), [
      'slow: timeout nearly reached',
      'db timeout',
    ]);
    assert.deepEqual(store.search({ since: T0 + 600_000 }), []);
    assert.deepEqual(store.search({ until: T0 - 1 }), []);
    // A late line with an old time is still found by its time.
    store.insert([{ time: T0 + 30_000, service: 'late', message: 'from the past' }]);
    assert.deepEqual(messages(store.search({ since: T0 + 1, until: T0 + 59_999 })), ['from the past']);
    store.close();
  });

  it('GIVEN journal lines WHEN ingested THEN JSON lines are parsed, text kept, and a search sees them at once', () => {
    const store = new LogStore({ path: ':memory:' });
    store.ingestLine(line({ message: '{"level":50,"time":1704067200999,"msg":"boom","orderId":3}' }));
    store.ingestLine(line({ message: 'plain text', stream: 'stderr', replica: 1 }));
    const [text, json] = store.search();
    assert.equal(json?.level, 'error');
    assert.equal(json?.message, 'boom');
    assert.equal(json?.time, 1704067200999);
    assert.deepEqual(json?.attributes, { orderId: 3 });
    assert.equal(json?.replica, '0');
    assert.equal(text?.message, 'plain text');
    assert.equal(text?.stream, 'stderr');
    assert.equal(text?.replica, '1');
    assert.equal(text?.level, null);
    store.close();
  });

  it('GIVEN injected secrets WHEN lines mention them THEN only *** is stored, in messages and attributes', () => {
    const store = new LogStore({ path: ':memory:' });
    store.redact(['hunter2', 'p@ss "word"']);
    store.ingestLine(line({ message: 'connecting with password hunter2' }));
    store.ingestLine(
      line({ message: '{"msg":"login","password":"p@ss \\"word\\"","nested":{"token":"xhunter2x"}}' }),
    );
    store.insert([{ time: T0, service: 's', message: 'url=https://u:p%40ss%20%22word%22@db/x' }]);
    const all = store.search();
    assert.deepEqual(messages(all), ['url=https://u:***@db/x', 'login', 'connecting with password ***']);
    assert.deepEqual(all[1]?.attributes, { password: '***', nested: { token: 'x***x' } });
    assert.equal(store.search({ query: 'hunter2' }).length, 0);
    store.close();
  });

  it('GIVEN a live tail WHEN matching lines are stored THEN the subscriber gets them in order, others not', async () => {
    const store = new LogStore({ path: ':memory:' });
    seed(store);
    const got: string[] = [];
    const off = store.subscribe({ query: 'level:error', environment: 'prod' }, (l) => got.push(l.message));
    store.add({ time: T0, service: 'a', environment: 'prod', level: 'error', message: 'one' });
    store.add({ time: T0, service: 'a', environment: 'prod', level: 'info', message: 'skip' });
    store.add({ time: T0, service: 'a', environment: 'prod', level: 'error', message: 'two' });
    await new Promise((r) => setTimeout(r, 120)); // the store gathers lines for 50 ms
    assert.deepEqual(got, ['one', 'two']);
    off();
    store.insert([{ time: T0, service: 'a', environment: 'prod', level: 'error', message: 'three' }]);
    assert.deepEqual(got, ['one', 'two']);
    store.close();
  });

  it('GIVEN retention by age, by lines and by bytes WHEN pruned THEN the oldest go and search stays consistent', () => {
    const store = new LogStore({ path: ':memory:', retention: { maxAgeMs: 150_000 } });
    seed(store);
    assert.equal(store.prune(T0 + 250_000).deleted, 2);
    assert.deepEqual(messages(store.search()), [
      'connection refused',
      'slow: timeout nearly reached',
      'db timeout',
    ]);
    assert.deepEqual(messages(store.search({ query: 'timeout' })), [
      'slow: timeout nearly reached',
      'db timeout',
    ]);
    store.close();

    const byLines = new LogStore({ path: ':memory:', retention: { maxLines: 2 } });
    seed(byLines);
    byLines.prune();
    assert.equal(byLines.count(), 2);
    assert.deepEqual(messages(byLines.search({ query: 'timeout' })), ['slow: timeout nearly reached']);
    byLines.close();

    const byBytes = new LogStore({ path: ':memory:', retention: { maxBytes: 2 << 20 } });
    const big = Array.from({ length: 20_000 }, (_, i) => ({
      time: T0 + i,
      service: 's',
      message: `line ${i} ${'x'.repeat(200)}`,
    }));
    byBytes.insert(big);
    assert.ok(byBytes.bytes() > 2 << 20);
    byBytes.prune();
    assert.ok(byBytes.bytes() <= 2 << 20, `${byBytes.bytes()} bytes left`);
    assert.ok(byBytes.count() > 0 && byBytes.count() < 20_000);
    assert.equal(byBytes.search({ limit: 1 })[0]?.message.startsWith('line 19999 '), true);
    byBytes.close();
  });

  it('GIVEN an insert listener WHEN lines are stored THEN it receives them redacted and with ids', () => {
    const store = new LogStore({ path: ':memory:' });
    store.redact(['s3cret']);
    const seen: StoredLog[] = [];
    store.onInsert((logs) => seen.push(...logs));
    store.insert([{ time: T0, service: 'a', message: 'key s3cret', attributes: { k: 's3cret' } }]);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.id, 1);
    assert.equal(seen[0]?.message, 'key ***');
    assert.deepEqual(seen[0]?.attributes, { k: '***' });
    store.close();
  });
});
