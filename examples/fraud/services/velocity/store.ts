/**
 * The velocity service's SQL: the `orders_history` table in the service's own schema, its one-time
 * seed, and the one-round-trip check. PostgreSQL and CockroachDB alike: UUID keys, no sequence,
 * `INCLUDE` (CockroachDB's `STORING`) and partial indexes, FILTER aggregates, COPY FROM STDIN.
 */
import type pg from 'pg';
import { ensureSchema, retrying, seedOnce, settleLoadedTable } from '../../lib/db.ts';
import {
  WINDOW_MS,
  mergeBatchPrior,
  type KeyKind,
  type OrderAggregates,
  type OrderKeys,
  type PriorAggregate,
} from './logic.ts';

/**
 * The history keys, stored as UUIDs: the first 128 bits of each key's SHA-256 (`historyKey`). A
 * 16-byte fixed-width key instead of 64 hex characters makes every index entry less than half as
 * big, so the indexes the checks and inserts walk stay in shared buffers far longer (at 64 hex
 * characters, 200k orders already outgrew PostgreSQL's default 128 MB and every check and insert
 * copied index pages in from the OS). 128 bits keep collisions out of reach (about 1 in 10^26
 * for a billion keys).
 */
export const KEY_COLUMNS = ['card_key', 'email_key', 'device_key', 'ip_key', 'address_key'] as const;

export const TABLES = [
  `CREATE TABLE IF NOT EXISTS orders_history (
    id UUID PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    card_key UUID NULL,
    email_key UUID NOT NULL,
    device_key UUID NOT NULL,
    ip_key UUID NOT NULL,
    address_key UUID NOT NULL,
    amount BIGINT NOT NULL
  )`,
];

/**
 * One index per key, ordered by time so each window is one range scan; every column a check reads
 * rides along (`INCLUDE`: the amount, the order id that excludes the order itself, the other key
 * the distinct counts need), so the checks are index-only scans and never visit the table, whose
 * rows are much wider. Most orders are not paid by card: the card index skips them.
 */
export const INDEXES = [
  'CREATE INDEX IF NOT EXISTS orders_history_card ON orders_history (card_key, created_at) INCLUDE (amount, id) WHERE card_key IS NOT NULL',
  'CREATE INDEX IF NOT EXISTS orders_history_email ON orders_history (email_key, created_at) INCLUDE (amount, id, card_key)',
  'CREATE INDEX IF NOT EXISTS orders_history_device ON orders_history (device_key, created_at) INCLUDE (amount, id, email_key)',
  'CREATE INDEX IF NOT EXISTS orders_history_ip ON orders_history (ip_key, created_at) INCLUDE (amount, id)',
  'CREATE INDEX IF NOT EXISTS orders_history_address ON orders_history (address_key, created_at) INCLUDE (amount, id)',
];

const INDEX_NAMES = INDEXES.map((sql) => /INDEX IF NOT EXISTS (\w+)/.exec(sql)![1]!);

/**
 * The stored form of a velocity key (SHA-256 hex, `keyOf` in logic.ts): its first 32 hex digits
 * as a UUID, written the way PostgreSQL and CockroachDB print one (lower case, with dashes), so
 * keys the database returns compare equal to the batch's own.
 */
export function historyKey(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** An order with its keys in stored form (`historyKey`). */
export function toHistoryKeys(k: OrderKeys): OrderKeys {
  return {
    id: k.id,
    createdAt: k.createdAt,
    cardKey: k.cardKey === null ? null : historyKey(k.cardKey),
    emailKey: historyKey(k.emailKey),
    deviceKey: historyKey(k.deviceKey),
    ipKey: historyKey(k.ipKey),
    addressKey: historyKey(k.addressKey),
    amount: k.amount,
  };
}

const COLUMN_LIST = [
  'id',
  'created_at',
  'card_key',
  'email_key',
  'device_key',
  'ip_key',
  'address_key',
  'amount',
];
const COLUMNS = COLUMN_LIST.join(', ');

/** Creates the tables if missing (every start; cheap when they exist). Indexes come with `seedIfEmpty`. */
export async function ensureTables(pool: pg.Pool): Promise<void> {
  await ensureSchema(pool, TABLES);
  await migrateTextKeys(pool);
}

/**
 * A history written before the keys became UUIDs holds them as 64 hex digits: converts them in
 * place (the first 32 digits are the UUID) and drops the old indexes, which `ensureIndexes` then
 * builds again with the columns the checks read today.
 */
async function migrateTextKeys(pool: pg.Pool): Promise<void> {
  const column = await pool.query<{ data_type: string }>(
    `SELECT data_type FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = 'orders_history' AND column_name = 'email_key'`,
  );
  if (column.rows[0]?.data_type.toLowerCase() !== 'text') return;
  for (const name of INDEX_NAMES) await pool.query(`DROP INDEX IF EXISTS ${name}`);
  await pool.query(
    `ALTER TABLE orders_history ${KEY_COLUMNS.map((c) => `ALTER COLUMN ${c} TYPE UUID USING left(${c}, 32)::uuid`).join(', ')}`,
  );
  await pool.query('ANALYZE orders_history');
}

/** Builds the indexes side by side (each build is one backend's sort; they share the table's SHARE lock). */
export async function ensureIndexes(pool: pg.Pool): Promise<void> {
  await Promise.all(INDEXES.map((sql) => ensureSchema(pool, [sql])));
}

/**
 * COPY text-format lines for `rows` (with `keyOf` keys, SHA-256 hex; stored as `historyKey`),
 * written straight into one reused buffer (ids, hex keys, ISO times and numbers are ASCII and
 * never need escaping). Building a string and converting it per chunk cost more than generating
 * the rows.
 */
export function* copyLines(rows: Iterable<OrderKeys>, chunkBytes = 1 << 20): Generator<Uint8Array> {
  const buffer = Buffer.allocUnsafe(chunkBytes);
  const maxLine = 512;
  let used = 0;
  for (const r of rows) {
    // A UUID may be written as 32 hex digits without dashes: the key's first 32 (`historyKey`).
    const line = `${r.id}\t${new Date(r.createdAt).toISOString()}\t${r.cardKey === null ? '\\N' : r.cardKey.slice(0, 32)}\t${r.emailKey.slice(0, 32)}\t${r.deviceKey.slice(0, 32)}\t${r.ipKey.slice(0, 32)}\t${r.addressKey.slice(0, 32)}\t${r.amount}\n`;
    used += buffer.write(line, used, 'latin1');
    if (used > chunkBytes - maxLine) {
      yield buffer.subarray(0, used);
      used = 0;
    }
  }
  if (used > 0) yield buffer.subarray(0, used);
}

export interface SeedResult {
  /** Rows this call stored; 0 when another replica seeded or the table already held orders. */
  seeded: number;
  ms: number;
}

export interface SeedOptions {
  /** The rows to load; called only when this replica seeds. */
  rows: () => Iterable<OrderKeys>;
  /** How many rows `rows` yields; 0 skips seeding. */
  expected: number;
  /** Phase timings (copy, indexes, vacuum) for the service log. */
  onPhase?: (phase: string, ms: number) => void;
}

/**
 * Seeds `orders_history` once per database (`seedOnce`: one replica loads, the others wait), then
 * ensures the indexes. They are built after the load, much faster than maintained row by row (on
 * a first start the table has none yet), and outside the load's transaction (CockroachDB runs
 * schema changes poorly inside one); then statistics are refreshed. Call it on every start: with
 * nothing to seed it only ensures the indexes.
 */
export async function seedIfEmpty(pool: pg.Pool, options: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  let mark = started;
  const phase = (name: string) => {
    const now = performance.now();
    options.onPhase?.(name, Math.round(now - mark));
    mark = now;
  };
  const seeded = await seedOnce(pool, {
    table: 'orders_history',
    columns: COLUMN_LIST,
    expected: options.expected,
    lines: () => copyLines(options.rows()),
  });
  if (seeded > 0) phase('copy');
  await ensureIndexes(pool);
  if (seeded > 0) {
    phase('indexes');
    await settleLoadedTable(pool, 'orders_history');
    phase('vacuum');
  }
  return { seeded, ms: Math.round(performance.now() - started) };
}

// One statement, one round trip, for a whole batch of orders: record them and aggregate every
// key's windows for each. The orders arrive as arrays (`unnest`), so the text is the same whatever
// the batch size and is prepared once per connection; each order's five branches are index range
// scans (LATERAL, one per order and key) that read only the index (every column they need is in
// it, see INDEXES). Rows the statement inserts are invisible to its own
// reads (PostgreSQL does not show a statement what its CTE writes), and each order's own row is
// excluded by id anyway (a re-sent order does not count itself): orders of the same batch see each
// other through `mergeBatchPrior` (logic.ts), in batch order, as if they had come one by one.
// The device branch reads all history for `ever` (newDevice).
const windowColumns = `
    count(*) FILTER (WHERE h.created_at > i.w1) AS c1, coalesce(sum(h.amount) FILTER (WHERE h.created_at > i.w1), 0) AS s1,
    count(*) FILTER (WHERE h.created_at > i.w24) AS c24, coalesce(sum(h.amount) FILTER (WHERE h.created_at > i.w24), 0) AS s24,
    count(*) FILTER (WHERE h.created_at > i.w30) AS c30, coalesce(sum(h.amount) FILTER (WHERE h.created_at > i.w30), 0) AS s30`;

const inWindow = 'h.created_at > i.w30 AND h.created_at <= i.created_at AND h.id <> i.id';

export const CHECK_SQL = `WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[],
      $8::bigint[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
    WITH ORDINALITY AS i (id, created_at, card_key, email_key, device_key, ip_key, address_key, amount, w1, w24, w30, n)
), recorded AS (
  INSERT INTO orders_history (${COLUMNS})
  SELECT ${COLUMNS} FROM input ON CONFLICT (id) DO NOTHING
  RETURNING id
)
SELECT i.n, 'recorded' AS kind, 0 AS c1, 0 AS s1, 0 AS c24, 0 AS s24, 0 AS c30, 0 AS s30, NULL::text[] AS others, 0 AS ever
  FROM input i WHERE i.id IN (SELECT id FROM recorded)
UNION ALL
SELECT i.n, 'card', a.* FROM input i, LATERAL (
  SELECT ${windowColumns}, NULL::text[] AS others, 0 AS ever
  FROM orders_history h WHERE h.card_key = i.card_key AND ${inWindow}) a
  WHERE i.card_key IS NOT NULL
UNION ALL
SELECT i.n, 'email', a.* FROM input i, LATERAL (
  SELECT ${windowColumns},
    array_agg(DISTINCT h.card_key) FILTER (WHERE h.created_at > i.w24 AND h.card_key IS NOT NULL AND h.card_key IS DISTINCT FROM i.card_key)::text[], 0
  FROM orders_history h WHERE h.email_key = i.email_key AND ${inWindow}) a
UNION ALL
SELECT i.n, 'device', a.* FROM input i, LATERAL (
  SELECT ${windowColumns},
    array_agg(DISTINCT h.email_key) FILTER (WHERE h.created_at > i.w30 AND h.email_key <> i.email_key)::text[], count(*)
  FROM orders_history h WHERE h.device_key = i.device_key AND h.created_at <= i.created_at AND h.id <> i.id) a
UNION ALL
SELECT i.n, 'ip', a.* FROM input i, LATERAL (
  SELECT ${windowColumns}, NULL::text[], 0
  FROM orders_history h WHERE h.ip_key = i.ip_key AND ${inWindow}) a
UNION ALL
SELECT i.n, 'address', a.* FROM input i, LATERAL (
  SELECT ${windowColumns}, NULL::text[], 0
  FROM orders_history h WHERE h.address_key = i.address_key AND ${inWindow}) a`;

interface AggregateRow {
  /** 1-based position of the order in the batch. */
  n: string | number;
  /** `recorded`: this order's row is new (not a re-sent order's). */
  kind: KeyKind | 'recorded';
  c1: string | number;
  s1: string | number;
  c24: string | number;
  s24: string | number;
  c30: string | number;
  s30: string | number;
  others: string[] | null;
  ever: string | number;
}

/** Turns one order's rows into aggregates (counts arrive as strings: bigint and numeric in pg). */
export function aggregatesFromRows(rows: readonly AggregateRow[]): Partial<Record<KeyKind, PriorAggregate>> {
  const out: Partial<Record<KeyKind, PriorAggregate>> = {};
  for (const r of rows) {
    if (r.kind === 'recorded') continue;
    out[r.kind] = {
      h1: { count: Number(r.c1), amountSum: Number(r.s1) },
      h24: { count: Number(r.c24), amountSum: Number(r.s24) },
      d30: { count: Number(r.c30), amountSum: Number(r.s30) },
      others: r.others ?? [],
      ever: Number(r.ever),
    };
  }
  return out;
}

/**
 * Records the orders and returns, for each, every key's aggregates over the history before it:
 * the database's, plus the orders earlier in the same batch. `orders` carry `keyOf` keys (SHA-256
 * hex); they are stored and compared in their stored form (`historyKey`).
 */
export async function checkAndRecordMany(
  pool: pg.Pool,
  orders: readonly OrderKeys[],
): Promise<OrderAggregates[]> {
  // Stored form throughout, so the keys the database returns compare equal to the batch's.
  const batch = orders.map(toHistoryKeys);
  const at = (ms: number) => new Date(ms).toISOString();
  const column = <V>(f: (k: OrderKeys) => V) => batch.map(f);
  const values = [
    column((k) => k.id),
    column((k) => at(k.createdAt)),
    column((k) => k.cardKey),
    column((k) => k.emailKey),
    column((k) => k.deviceKey),
    column((k) => k.ipKey),
    column((k) => k.addressKey),
    column((k) => k.amount),
    column((k) => at(k.createdAt - WINDOW_MS.h1)),
    column((k) => at(k.createdAt - WINDOW_MS.h24)),
    column((k) => at(k.createdAt - WINDOW_MS.d30)),
  ];
  // A named statement: parsed and planned once per connection.
  const result = await retrying(() =>
    pool.query<AggregateRow>({ name: 'velocity-check-uuid', text: CHECK_SQL, values }),
  );
  const rowsOf: AggregateRow[][] = batch.map(() => []);
  for (const row of result.rows) rowsOf[Number(row.n) - 1]?.push(row);
  return mergeBatchPrior(
    batch,
    rowsOf.map((rows) => aggregatesFromRows(rows)),
    rowsOf.map((rows) => rows.some((r) => r.kind === 'recorded')),
  );
}

/** Records the order and returns each key's aggregates over the history before it. */
export async function checkAndRecord(pool: pg.Pool, keys: OrderKeys): Promise<OrderAggregates> {
  return (await checkAndRecordMany(pool, [keys]))[0]!;
}
