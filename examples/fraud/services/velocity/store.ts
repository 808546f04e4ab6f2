/**
 * The velocity service's SQL: the `orders_history` table in the service's own schema, its one-time
 * seed, and the one-round-trip check. PostgreSQL and CockroachDB alike: UUID key, no sequence,
 * `INCLUDE` (CockroachDB's `STORING`) and partial indexes, FILTER aggregates, COPY FROM STDIN.
 */
import type pg from 'pg';
import { ensureSchema, retrying, seedOnce } from '../../lib/db.ts';
import { WINDOW_MS, type KeyAggregate, type KeyKind, type OrderKeys } from './logic.ts';

export const TABLES = [
  `CREATE TABLE IF NOT EXISTS orders_history (
    id UUID PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    card_key TEXT NULL,
    email_key TEXT NOT NULL,
    device_key TEXT NOT NULL,
    ip_key TEXT NOT NULL,
    address_key TEXT NOT NULL,
    amount BIGINT NOT NULL
  )`,
];

/**
 * One index per key, ordered by time so each window is one range scan; the columns the aggregates
 * read ride along (`INCLUDE`), so PostgreSQL can answer from the index once the table is vacuumed.
 * Most orders are not paid by card: the card index skips them.
 */
export const INDEXES = [
  'CREATE INDEX IF NOT EXISTS orders_history_card ON orders_history (card_key, created_at) INCLUDE (amount) WHERE card_key IS NOT NULL',
  'CREATE INDEX IF NOT EXISTS orders_history_email ON orders_history (email_key, created_at) INCLUDE (amount, card_key)',
  'CREATE INDEX IF NOT EXISTS orders_history_device ON orders_history (device_key, created_at) INCLUDE (amount, email_key)',
  'CREATE INDEX IF NOT EXISTS orders_history_ip ON orders_history (ip_key, created_at) INCLUDE (amount)',
  'CREATE INDEX IF NOT EXISTS orders_history_address ON orders_history (address_key, created_at) INCLUDE (amount)',
];

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
}

/** Builds the indexes side by side (each build is one backend's sort; they share the table's SHARE lock). */
export async function ensureIndexes(pool: pg.Pool): Promise<void> {
  await Promise.all(INDEXES.map((sql) => ensureSchema(pool, [sql])));
}

/**
 * COPY text-format lines for `rows`, written straight into one reused buffer (ids, hex keys, ISO
 * times and numbers are ASCII and never need escaping). Building a string and converting it per
 * chunk cost more than generating the rows.
 */
export function* copyLines(rows: Iterable<OrderKeys>, chunkBytes = 1 << 20): Generator<Uint8Array> {
  const buffer = Buffer.allocUnsafe(chunkBytes);
  const maxLine = 512;
  let used = 0;
  for (const r of rows) {
    const line = `${r.id}\t${new Date(r.createdAt).toISOString()}\t${r.cardKey ?? '\\N'}\t${r.emailKey}\t${r.deviceKey}\t${r.ipKey}\t${r.addressKey}\t${r.amount}\n`;
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
  /** Phase timings (copy, indexes, analyze) for the service log. */
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
    await pool.query('ANALYZE orders_history');
    phase('analyze');
  }
  return { seeded, ms: Math.round(performance.now() - started) };
}

// One statement, one round trip: record the order and aggregate every key's windows. The insert's
// row is excluded by id, so the answer is the same whether or not the engine shows a statement its
// own CTE writes (PostgreSQL does not; the exclusion also keeps a re-sent order from counting itself).
// $9..$11 are the window starts; the device branch reads all history for `ever` (newDevice).
const windowColumns = `
    count(*) FILTER (WHERE created_at > $9) AS c1, coalesce(sum(amount) FILTER (WHERE created_at > $9), 0) AS s1,
    count(*) FILTER (WHERE created_at > $10) AS c24, coalesce(sum(amount) FILTER (WHERE created_at > $10), 0) AS s24,
    count(*) FILTER (WHERE created_at > $11) AS c30, coalesce(sum(amount) FILTER (WHERE created_at > $11), 0) AS s30`;

export const CHECK_SQL = `WITH recorded AS (
  INSERT INTO orders_history (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING
)
SELECT 'card' AS kind, ${windowColumns}, 0 AS others, 0 AS ever
  FROM orders_history WHERE card_key = $3 AND created_at > $11 AND created_at <= $2 AND id <> $1
UNION ALL
SELECT 'email', ${windowColumns},
    count(DISTINCT card_key) FILTER (WHERE created_at > $10 AND card_key IS DISTINCT FROM $3), 0
  FROM orders_history WHERE email_key = $4 AND created_at > $11 AND created_at <= $2 AND id <> $1
UNION ALL
SELECT 'device', ${windowColumns},
    count(DISTINCT email_key) FILTER (WHERE created_at > $11 AND email_key <> $4), count(*)
  FROM orders_history WHERE device_key = $5 AND created_at <= $2 AND id <> $1
UNION ALL
SELECT 'ip', ${windowColumns}, 0, 0
  FROM orders_history WHERE ip_key = $6 AND created_at > $11 AND created_at <= $2 AND id <> $1
UNION ALL
SELECT 'address', ${windowColumns}, 0, 0
  FROM orders_history WHERE address_key = $7 AND created_at > $11 AND created_at <= $2 AND id <> $1`;

interface AggregateRow {
  kind: KeyKind;
  c1: string | number;
  s1: string | number;
  c24: string | number;
  s24: string | number;
  c30: string | number;
  s30: string | number;
  others: string | number;
  ever: string | number;
}

/** Turns the five rows into aggregates (counts arrive as strings: bigint and numeric in pg). */
export function aggregatesFromRows(rows: readonly AggregateRow[]): Record<KeyKind, KeyAggregate> {
  const out = {} as Record<KeyKind, KeyAggregate>;
  for (const r of rows) {
    out[r.kind] = {
      h1: { count: Number(r.c1), amountSum: Number(r.s1) },
      h24: { count: Number(r.c24), amountSum: Number(r.s24) },
      d30: { count: Number(r.c30), amountSum: Number(r.s30) },
      distinctOthers: Number(r.others),
      ever: Number(r.ever),
    };
  }
  return out;
}

/** Records the order and returns each key's aggregates over the history before it. */
export async function checkAndRecord(pool: pg.Pool, keys: OrderKeys): Promise<Record<KeyKind, KeyAggregate>> {
  const at = (ms: number) => new Date(ms).toISOString();
  const T = keys.createdAt;
  const values = [
    keys.id,
    at(T),
    keys.cardKey,
    keys.emailKey,
    keys.deviceKey,
    keys.ipKey,
    keys.addressKey,
    keys.amount,
    at(T - WINDOW_MS.h1),
    at(T - WINDOW_MS.h24),
    at(T - WINDOW_MS.d30),
  ];
  // A named statement: parsed and planned once per connection.
  const result = await retrying(() =>
    pool.query<AggregateRow>({ name: 'velocity-check', text: CHECK_SQL, values }),
  );
  return aggregatesFromRows(result.rows);
}
