/**
 * The credit service's SQL: `bureau_records`, one file per person keyed by `personKey`, in the
 * service's own schema. Seeded once from the synthetic bureau; read by primary key only.
 */
import type pg from 'pg';
import type { BureauRecord } from '../../db/bureau.ts';
import { ensureSchema, retrying, seedOnce, settleLoadedTable } from '../../lib/db.ts';
import { bureauFiles } from './logic.ts';

export const TABLE = `CREATE TABLE IF NOT EXISTS bureau_records (
  person_key TEXT PRIMARY KEY,
  open_accounts INT NOT NULL,
  defaults_36m INT NOT NULL,
  late_payments_12m INT NOT NULL,
  inquiries_6m INT NOT NULL,
  months_on_file INT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`;

const COLUMNS = [
  'person_key',
  'open_accounts',
  'defaults_36m',
  'late_payments_12m',
  'inquiries_6m',
  'months_on_file',
];

/** COPY lines for the files of persons `0 … persons-1` (`bureauFiles`). */
export function* bureauLines(persons: number, linesPerChunk = 5000): Generator<string> {
  let chunk = '';
  let n = 0;
  for (const [key, r] of bureauFiles(persons)) {
    chunk += `${key}\t${r.openAccounts}\t${r.defaults36m}\t${r.latePayments12m}\t${r.inquiries6m}\t${r.monthsOnFile}\n`;
    if (++n === linesPerChunk) {
      yield chunk;
      chunk = '';
      n = 0;
    }
  }
  if (chunk) yield chunk;
}

/** Creates the table and seeds it once per database; resolves with the files this call stored. */
export async function ensureBureau(pool: pg.Pool, persons: number): Promise<number> {
  await ensureSchema(pool, [TABLE]);
  const seeded = await seedOnce(pool, {
    table: 'bureau_records',
    columns: COLUMNS,
    expected: persons,
    lines: () => bureauLines(persons),
  });
  if (seeded > 0) await settleLoadedTable(pool, 'bureau_records');
  return seeded;
}

interface RecordRow {
  open_accounts: number;
  defaults_36m: number;
  late_payments_12m: number;
  inquiries_6m: number;
  months_on_file: number;
}

const fromRow = (r: RecordRow): BureauRecord => ({
  // INT is INT8 on CockroachDB, which pg hands over as a string.
  openAccounts: Number(r.open_accounts),
  defaults36m: Number(r.defaults_36m),
  latePayments12m: Number(r.late_payments_12m),
  inquiries6m: Number(r.inquiries_6m),
  monthsOnFile: Number(r.months_on_file),
});

/**
 * The files of many keys in one statement (one round trip for a batch of checks), in the order of
 * `keys`; null where the bureau has none. One statement text whatever the batch size.
 */
export async function findRecords(pool: pg.Pool, keys: readonly string[]): Promise<(BureauRecord | null)[]> {
  if (keys.length === 1) return [await findRecord(pool, keys[0]!)];
  const result = await retrying(() =>
    pool.query<RecordRow & { person_key: string }>({
      name: 'credit-records',
      text: 'SELECT person_key, open_accounts, defaults_36m, late_payments_12m, inquiries_6m, months_on_file FROM bureau_records WHERE person_key = ANY($1::text[])',
      values: [keys],
    }),
  );
  const byKey = new Map(result.rows.map((r) => [r.person_key, r]));
  return keys.map((k) => {
    const r = byKey.get(k);
    return r ? fromRow(r) : null;
  });
}

/** The file of `key`, or null when the bureau has none. */
export async function findRecord(pool: pg.Pool, key: string): Promise<BureauRecord | null> {
  const result = await retrying(() =>
    pool.query<RecordRow>({
      name: 'credit-record',
      text: 'SELECT open_accounts, defaults_36m, late_payments_12m, inquiries_6m, months_on_file FROM bureau_records WHERE person_key = $1',
      values: [key],
    }),
  );
  const r = result.rows[0];
  return r ? fromRow(r) : null;
}
