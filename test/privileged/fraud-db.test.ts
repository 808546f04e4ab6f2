// The fraud workload's database side against a real PostgreSQL: each service runs as its own role
// whose schema is its search_path (as Rampart provisions it). Velocity seeds once even with two
// replicas racing and answers in SQL exactly what its in-memory twin (used for training) answers;
// credit seeds and finds bureau files; audit is idempotent per merchant order. Then the six signal
// servers run as processes and answer over HTTP.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { bureauPerson } from '../../examples/fraud/db/bureau.ts';
import { pick, streamRand } from '../../examples/fraud/db/people.ts';
import { historicalOrders, seedCustomer } from '../../examples/fraud/db/seed.ts';
import { createPool } from '../../examples/fraud/lib/db.ts';
import type { Order } from '../../examples/fraud/lib/types.ts';
import * as audit from '../../examples/fraud/services/audit/store.ts';
import { personKey } from '../../examples/fraud/services/credit/logic.ts';
import { ensureBureau, findRecord, findRecords } from '../../examples/fraud/services/credit/store.ts';
import {
  DEFAULT_THRESHOLDS,
  VelocityIndex,
  assembleSignals,
  normaliseKeys,
  orderUuid,
} from '../../examples/fraud/services/velocity/logic.ts';
import {
  checkAndRecord,
  checkAndRecordMany,
  ensureTables,
  seedIfEmpty,
  toHistoryKeys,
} from '../../examples/fraud/services/velocity/store.ts';
import {
  freePort,
  postgresTestSkipReason,
  startPostgresForTest,
  type TestPostgres,
} from '../../src/testing/postgres.ts';

const skip = postgresTestSkipReason();
const NOW = Date.now();
const HISTORY = 5000;

let server: TestPostgres | undefined;
const pools: pg.Pool[] = [];

/** A login role with a schema of its own first on its search_path, like Rampart's provisioning. */
async function serviceRole(name: string): Promise<string> {
  if (!server) throw new Error('server not started');
  const password = randomBytes(12).toString('hex');
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
    await admin.query(`CREATE SCHEMA ${name} AUTHORIZATION ${name}`);
    await admin.query(`ALTER ROLE ${name} SET search_path TO ${name}`);
  } finally {
    await admin.end();
  }
  return `postgres://${name}:${password}@${server.host}:${server.port}/postgres`;
}

function poolFor(url: string, max = 4): pg.Pool {
  const pool = createPool({ connectionString: url, max });
  pools.push(pool);
  return pool;
}

before(async () => {
  if (!skip) server = await startPostgresForTest();
});
after(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await server?.stop();
});

/** A live order of seed customer `c` at `at`, optionally with other card, device or email. */
function liveOrder(
  c: number,
  at: number,
  i: number,
  change: Partial<{
    bin: string;
    last4: string;
    deviceId: string;
    email: string;
    method: 'card' | 'invoice';
  }> = {},
): Order {
  const customer = seedCustomer(c);
  const rand = streamRand('live', i);
  const card = customer.cards[0] ?? { bin: '455600', last4: '0000' };
  const method = change.method ?? (customer.cards.length > 0 ? 'card' : 'invoice');
  return {
    merchantId: 'm-test',
    orderId: `o-${i}`,
    amount: 1000 + Math.floor(rand() * 20_000),
    currency: 'EUR',
    customer: {
      name: customer.name,
      email: change.email ?? customer.email,
      phone: '+4915123456789',
      dateOfBirth: customer.dateOfBirth,
    },
    billingAddress: customer.address,
    shippingAddress: customer.shippingAddresses[0]!,
    ipAddress: rand() < 0.7 ? customer.homeIp : customer.mobileIp,
    deviceId: change.deviceId ?? pick(rand, customer.devices),
    payment:
      method === 'card'
        ? { method, bin: change.bin ?? card.bin, last4: change.last4 ?? card.last4 }
        : { method },
    createdAt: new Date(at).toISOString(),
  };
}

describe('velocity store', { skip, timeout: 120_000 }, () => {
  let pool: pg.Pool;
  before(async () => {
    pool = poolFor(await serviceRole('velocity'));
    await ensureTables(pool);
  });

  it('GIVEN an empty database WHEN seeded THEN every row, the claim and the five indexes are there', async () => {
    const result = await seedIfEmpty(pool, {
      rows: () => historicalOrders(HISTORY, 3, NOW),
      expected: HISTORY,
    });
    assert.equal(result.seeded, HISTORY);
    const count = await pool.query('SELECT count(*)::int AS n FROM orders_history');
    assert.equal(count.rows[0].n, HISTORY);
    const claim = await pool.query(
      `SELECT rows::int AS rows, finished_at IS NOT NULL AS done FROM seed_runs WHERE name = 'orders_history'`,
    );
    assert.deepEqual(claim.rows, [{ rows: HISTORY, done: true }]);
    const indexes = await pool.query(
      `SELECT indexname FROM pg_indexes WHERE tablename = 'orders_history' ORDER BY indexname`,
    );
    assert.deepEqual(
      indexes.rows.map((r) => r.indexname),
      [
        'orders_history_address',
        'orders_history_card',
        'orders_history_device',
        'orders_history_email',
        'orders_history_ip',
        'orders_history_pkey',
      ],
    );
    assert.equal(
      (await seedIfEmpty(pool, { rows: () => historicalOrders(HISTORY, 3, NOW), expected: HISTORY })).seeded,
      0,
      'once only',
    );
  });

  it('GIVEN the seeded history WHEN normal orders and fraud bursts arrive THEN SQL answers exactly what VelocityIndex answers', async () => {
    const twin = new VelocityIndex();
    for (const row of historicalOrders(HISTORY, 3, NOW)) twin.add(row);
    const orders: Order[] = [];
    let t = NOW + 1000;
    for (let i = 0; i < 120; i++) orders.push(liveOrder(i % 40, (t += 45_000), i)); // returning customers
    for (let i = 0; i < 8; i++)
      orders.push(liveOrder(7, (t += 20_000), 1000 + i, { bin: '535111', last4: String(1000 + i) })); // card testing
    orders.push(liveOrder(7, (t += 20_000), 1100, { method: 'invoice' })); // the tester switches to invoice
    for (let i = 0; i < 5; i++)
      orders.push(liveOrder(11, (t += 60_000), 2000 + i, { deviceId: 'dev-takeover' })); // new device
    for (let i = 0; i < 5; i++)
      orders.push(
        liveOrder(12, (t += 30_000), 3000 + i, { deviceId: 'dev-shared', email: `drop${i}@mailinator.com` }),
      );
    orders.push(liveOrder(13, t - 10 * 24 * 3_600_000, 4000)); // a late-arriving old order
    let reasons = 0;
    let switched: number | undefined;
    for (const order of orders) {
      const keys = normaliseKeys(order);
      const fromSql = assembleSignals(keys, await checkAndRecord(pool, keys), DEFAULT_THRESHOLDS);
      assert.deepEqual(fromSql, twin.check(keys), order.orderId);
      reasons += fromSql.reasons.length;
      if (order.orderId === 'o-1100') switched = fromSql.distinctCardsPerEmail24h;
    }
    assert.ok(reasons > 10, 'the bursts were flagged');
    assert.ok(
      switched !== undefined && switched >= 8,
      'an invoice order still sees the cards tested on its email',
    );
  });

  it('GIVEN an order sent twice THEN one row, and the second answer does not count the first', async () => {
    const order = liveOrder(20, NOW + 10 * 3_600_000, 5000);
    const keys = normaliseKeys(order);
    const first = assembleSignals(keys, await checkAndRecord(pool, keys), DEFAULT_THRESHOLDS);
    const second = assembleSignals(keys, await checkAndRecord(pool, keys), DEFAULT_THRESHOLDS);
    assert.deepEqual(second, first);
    const rows = await pool.query('SELECT count(*)::int AS n FROM orders_history WHERE id = $1', [
      orderUuid('m-test', 'o-5000'),
    ]);
    assert.equal(rows.rows[0].n, 1);
  });

  it('GIVEN a burst checked as one batch THEN each order gets what checking them one by one gives', async () => {
    // The table holds keys in stored form (toHistoryKeys): so does the twin here, since it reads them back.
    const twin = new VelocityIndex();
    for (const row of historicalOrders(HISTORY, 3, NOW)) twin.add(toHistoryKeys(row));
    // What the earlier tests recorded, so the twin holds what the table holds.
    const recorded = await pool.query(
      'SELECT id, created_at, card_key, email_key, device_key, ip_key, address_key, amount FROM orders_history WHERE created_at > $1',
      [new Date(NOW).toISOString()],
    );
    for (const r of recorded.rows)
      twin.add({
        id: r.id,
        createdAt: r.created_at.getTime(),
        cardKey: r.card_key,
        emailKey: r.email_key,
        deviceKey: r.device_key,
        ipKey: r.ip_key,
        addressKey: r.address_key,
        amount: Number(r.amount),
      });
    const t = NOW + 20 * 3_600_000;
    const orders = [
      ...Array.from({ length: 6 }, (_, i) =>
        liveOrder(7, t + i * 1000, 6000 + i, {
          bin: '535111',
          last4: String(2000 + i),
          deviceId: 'dev-burst',
        }),
      ),
      liveOrder(3, t + 500, 6100),
      liveOrder(12, t + 9000, 6101, { deviceId: 'dev-burst', email: 'drop@mailinator.com' }),
    ];
    const keys = orders.map((o) => normaliseKeys(o));
    // The re-sent first order rides along: it must neither count nor be counted twice.
    const batch = [...keys, keys[0]!];
    const fromSql = (await checkAndRecordMany(pool, batch)).map((agg, i) =>
      assembleSignals(batch[i]!, agg, DEFAULT_THRESHOLDS),
    );
    batch.forEach((k, i) => assert.deepEqual(fromSql[i], twin.check(toHistoryKeys(k)), `batch item ${i}`));
    assert.ok(fromSql[5]!.reasons.includes('VELOCITY_CARD_1H') || fromSql[5]!.reasons.length > 0);
  });

  it('GIVEN two replicas starting at once THEN one seeds, the other waits for it and skips', async () => {
    const url = await serviceRole('velocity_b');
    const [a, b] = [poolFor(url), poolFor(url)];
    await Promise.all([ensureTables(a), ensureTables(b)]);
    const rows = () => historicalOrders(3000, 4, NOW);
    const results = await Promise.all([
      seedIfEmpty(a, { rows, expected: 3000 }),
      seedIfEmpty(b, { rows, expected: 3000 }),
    ]);
    assert.deepEqual(results.map((r) => r.seeded).sort(), [0, 3000]);
    assert.equal((await a.query('SELECT count(*)::int AS n FROM orders_history')).rows[0].n, 3000);
  });
});

describe('credit store', { skip, timeout: 60_000 }, () => {
  it('GIVEN an empty database WHEN the bureau is loaded THEN a person is found by key, a stranger is not, and it loads once', async () => {
    const pool = poolFor(await serviceRole('credit'));
    const seeded = await ensureBureau(pool, 3000);
    assert.ok(seeded > 2990 && seeded <= 3000, String(seeded));
    const p = bureauPerson(5);
    assert.deepEqual(
      await findRecord(pool, personKey(p.name, p.dateOfBirth, p.address.postalCode)),
      p.record,
    );
    assert.equal(await findRecord(pool, personKey('Nobody Known', '1970-01-01', '00000')), null);
    assert.equal(await ensureBureau(pool, 3000), 0);
    // A batch of checks in one statement: each answer in its caller's place, as alone.
    const people = [7, 11, 7].map((i) => bureauPerson(i));
    const keys = [
      personKey(people[0]!.name, people[0]!.dateOfBirth, people[0]!.address.postalCode),
      personKey('Nobody Known', '1970-01-01', '00000'),
      ...people.slice(1).map((q) => personKey(q.name, q.dateOfBirth, q.address.postalCode)),
    ];
    assert.deepEqual(await findRecords(pool, keys), [
      await findRecord(pool, keys[0]!),
      null,
      await findRecord(pool, keys[2]!),
      await findRecord(pool, keys[3]!),
    ]);
    assert.deepEqual((await findRecords(pool, keys))[3], people[2]!.record);
  });
});

describe('audit store', { skip, timeout: 60_000 }, () => {
  it('GIVEN an assessment WHEN stored twice, read back and labelled THEN one row with its features and labels', async () => {
    const pool = poolFor(await serviceRole('audit'));
    await audit.ensureTables(pool);
    const a = {
      merchantId: 'm1',
      orderId: 'o1',
      decision: 'review' as const,
      score: 0.4,
      reasons: ['IP_COUNTRY_MISMATCH'],
      features: { ipMismatch: 1 },
    };
    const first = await audit.insertAssessment(pool, a);
    assert.equal(first.existing, false);
    const again = await audit.insertAssessment(pool, { ...a, decision: 'accept' });
    assert.deepEqual(again, { ...first, existing: true });
    assert.equal((await audit.insertFeedback(pool, first.assessmentId, 'chargeback'))?.label, 'chargeback');
    const stored = await audit.findById(pool, first.assessmentId);
    assert.deepEqual(stored?.features, { ipMismatch: 1 });
    assert.deepEqual(
      stored?.feedback.map((f) => f.label),
      ['chargeback'],
    );
    assert.deepEqual(await audit.findByOrder(pool, 'm1', 'o1'), stored);
    assert.equal(await audit.findByOrder(pool, 'm1', 'nope'), null);
    assert.equal(
      await audit.insertFeedback(pool, '00000000-0000-4000-8000-000000000000', 'chargeback'),
      null,
    );
  });

  it('GIVEN a batch with a retry, an order stored before and a reused id WHEN stored together THEN each item settles on its own', async () => {
    const pool = poolFor(await serviceRole('audit_b'));
    await audit.ensureTables(pool);
    const base = { decision: 'accept' as const, score: 0.1, reasons: [], features: { amount: 1 } };
    const before = await audit.insertAssessment(pool, { ...base, merchantId: 'm1', orderId: 'old' });
    const results = await audit.insertAssessments(pool, [
      { ...base, merchantId: 'm1', orderId: 'b1' },
      { ...base, merchantId: 'm1', orderId: 'b1', decision: 'reject' },
      { ...base, merchantId: 'm1', orderId: 'old' },
      { ...base, merchantId: 'm2', orderId: 'b1', createdAt: '2026-01-01T00:00:00.000Z' },
    ]);
    const values = results.map((r) => (r.ok ? r.value : undefined));
    assert.equal(values[0]?.existing, false);
    assert.deepEqual(values[1], { ...values[0], existing: true }, 'the retry answers the first');
    assert.deepEqual(values[2], { ...before, existing: true });
    assert.equal(values[3]?.createdAt, '2026-01-01T00:00:00.000Z');
    assert.deepEqual((await audit.findById(pool, values[0]!.assessmentId))?.features, { amount: 1 });

    // An assessmentId already taken fails the statement: the items are stored one by one and
    // only the bad one fails.
    const retried = await audit.insertAssessments(pool, [
      { ...base, merchantId: 'm3', orderId: 'c1' },
      { ...base, merchantId: 'm3', orderId: 'c2', assessmentId: before.assessmentId },
    ]);
    assert.equal(retried[0]!.ok, true);
    assert.equal(retried[1]!.ok, false);
    assert.equal((retried[1] as { error: { code?: string } }).error.code, '23505');
  });
});

describe('signal servers over HTTP', { skip, timeout: 180_000 }, () => {
  const children: ChildProcess[] = [];
  const base: Record<string, string> = {};
  let home = '';

  before(async () => {
    // rc reads ~/.<app>rc: a fresh HOME keeps a stray file from changing the services' config.
    home = await mkdtemp(join(tmpdir(), 'fraud-db-home-'));
    const urls: Record<string, string> = {
      velocity: await serviceRole('velocity_srv'),
      credit: await serviceRole('credit_srv'),
      audit: await serviceRole('audit_srv'),
    };
    for (const name of ['identity', 'geo', 'payment', 'velocity', 'credit', 'audit']) {
      const port = await freePort();
      const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
        cwd: join(import.meta.dirname, '../../examples/fraud/services', name),
        env: {
          PATH: process.env.PATH,
          HOME: home,
          PORT: String(port),
          RAMPART_SERVICE: name,
          velocity_seed__orders: '3000',
          credit_seed__persons: '2000',
          ...(urls[name] ? { DATABASE_URL: urls[name] } : {}),
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
      base[name] = `http://127.0.0.1:${port}`;
    }
    const deadline = Date.now() + 90_000;
    for (const [name, url] of Object.entries(base)) {
      for (;;) {
        const ok = await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`${name} never became ready`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });
  after(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) =>
            c.exitCode !== null ? resolve() : (c.once('exit', () => resolve()), c.kill('SIGTERM')),
          ),
      ),
    );
    await rm(home, { recursive: true, force: true });
  });

  const post = async (name: string, path: string, body: unknown) => {
    const res = await fetch(`${base[name]}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it('GIVEN one order THEN every signal service answers its signals, and a malformed body is a field-level 400', async () => {
    const order = liveOrder(3, NOW + 3_600_000, 9000);
    const identity = await post('identity', '/check', {
      customer: order.customer,
      billingAddress: order.billingAddress,
    });
    assert.equal(identity.status, 200);
    assert.equal(identity.body.emailValid, true);
    const geo = await post('geo', '/check', {
      ipAddress: order.ipAddress,
      billingAddress: order.billingAddress,
      shippingAddress: order.shippingAddress,
    });
    assert.deepEqual([geo.status, geo.body.ipCountry], [200, order.billingAddress.country]);
    const payment = await post('payment', '/check', {
      payment: order.payment,
      billingAddress: order.billingAddress,
    });
    assert.equal(payment.status, 200);
    const velocity = await post('velocity', '/check', { order });
    assert.equal(velocity.status, 200);
    assert.ok(velocity.body.email.d30.count > 0, 'customer 3 is in the seeded history');
    const p = bureauPerson(4);
    const credit = await post('credit', '/check', {
      customer: { name: p.name, dateOfBirth: p.dateOfBirth },
      billingAddress: p.address,
      amount: 5000,
      currency: 'EUR',
    });
    assert.equal(credit.status, 200);
    assert.notEqual(credit.body.decision, 'unknown');
    assert.deepEqual(Object.keys(credit.body).sort(), ['decision', 'reasons'], 'never the records');
    assert.deepEqual(await post('geo', '/check', { billingAddress: {} }), {
      status: 400,
      body: { error: 'invalid request', field: 'ipAddress' },
    });
    assert.deepEqual((await post('velocity', '/check', { order: { ...order, deviceId: 7 } })).body, {
      error: 'invalid request',
      field: 'order.deviceId',
    });
  });

  it('GIVEN audit THEN idempotent storage, lookups, labels and 404s over HTTP', async () => {
    const body = {
      merchantId: 'm1',
      orderId: 'o-http',
      decision: 'accept',
      score: 0.05,
      reasons: [],
      features: { a: 1 },
    };
    const first = await post('audit', '/assessments', body);
    assert.equal(first.status, 200);
    assert.equal(first.body.existing, false);
    const again = await post('audit', '/assessments', body);
    assert.deepEqual([again.body.existing, again.body.assessmentId], [true, first.body.assessmentId]);
    const byId = (await fetch(`${base.audit}/assessments/${first.body.assessmentId}`).then((r) =>
      r.json(),
    )) as Record<string, unknown>;
    assert.deepEqual(byId.features, { a: 1 });
    const byOrder = (await fetch(`${base.audit}/assessments/by-order?merchantId=m1&orderId=o-http`).then(
      (r) => r.json(),
    )) as Record<string, unknown>;
    assert.equal(byOrder.assessmentId, first.body.assessmentId);
    assert.equal((await fetch(`${base.audit}/assessments/by-order?merchantId=m1&orderId=none`)).status, 404);
    assert.equal((await fetch(`${base.audit}/assessments/not-a-uuid`)).status, 404);
    assert.equal(
      (await post('audit', '/feedback', { assessmentId: first.body.assessmentId, label: 'confirmed-good' }))
        .status,
      200,
    );
    assert.equal(
      (await post('audit', '/feedback', { assessmentId: randomUuid(), label: 'chargeback' })).status,
      404,
    );
    assert.deepEqual(
      await post('audit', '/feedback', { assessmentId: first.body.assessmentId, label: 'maybe' }),
      {
        status: 400,
        body: { error: 'invalid request', field: 'label' },
      },
    );
  });
});

function randomUuid(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
