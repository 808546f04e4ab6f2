/**
 * Puts a fraud stack's database back to its seeded size between the modes of a benchmark. Every
 * assessment adds a row to audit's `assessments` and one to velocity's `orders_history`: one ramp
 * to ~2,000/s adds ~200,000 of each to a 20,000-order seed, and each later mode ran on a bigger,
 * slower database (observe-fraud session 20: off sustained 2089/s in its first round, 1297/s in
 * its second and third, PostgreSQL's CPU per assessment 0.27 → 0.8 ms). Rotating the modes'
 * order balances positions, not that drift: a mode's median round can sit earlier than another's.
 *
 * Rows made after `since` (the traffic's orders carry their own time, the seed's are older) are
 * deleted by the service that owns each table, from inside its replica's network namespace with
 * its own credentials (the database network admits no one else), then the table is vacuumed,
 * analysed and reindexed, so the next mode starts from the seeded table and indexes.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { execInNetns } from '../src/network/index.ts';
import { realExec, type Exec } from '../src/platform/exec.ts';
import type { ReplicaStatus } from '../src/server/control-plane.ts';

/** What each database service owns of the traffic's rows. */
const OWNED: readonly { service: string; tables: readonly { table: string; where: string }[] }[] = [
  {
    service: 'audit',
    tables: [
      { table: 'feedback', where: 'created_at > $1' },
      { table: 'assessments', where: 'created_at > $1' },
    ],
  },
  { service: 'velocity', tables: [{ table: 'orders_history', where: 'created_at > $1' }] },
];

const PG_PATH = createRequire(import.meta.url).resolve('pg');

/** Runs in the replica's namespace: deletes, then vacuums, analyses and reindexes each table. */
const SCRIPT = `
const pg = require(process.env.RESET_PG);
const { since, tables } = JSON.parse(process.env.RESET_PLAN);
(async () => {
  const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await c.connect();
  const out = {};
  for (const { table, where } of tables) out[table] = (await c.query('DELETE FROM ' + table + ' WHERE ' + where, [since])).rowCount;
  for (const { table } of tables) {
    await c.query('VACUUM ANALYZE ' + table);
    await c.query('REINDEX TABLE ' + table);
  }
  await c.end();
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stderr.write(String(e && e.message)); process.exit(1); });
`;

async function environOf(pid: number): Promise<Record<string, string>> {
  const text = await readFile(`/proc/${pid}/environ`, 'utf8');
  const env: Record<string, string> = {};
  for (const pair of text.split('\0')) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/** Deletes the rows made since `since`; answers the rows deleted per table. */
export async function resetFraudRows(
  replicas: readonly ReplicaStatus[],
  since: Date,
  exec: Exec = realExec,
): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  for (const { service, tables } of OWNED) {
    const replica = replicas.find((r) => r.service === service && r.pid !== null);
    if (!replica) throw new Error(`fraud reset: no running replica of ${service}`);
    const url = (await environOf(replica.pid!)).DATABASE_URL;
    if (!url) throw new Error(`fraud reset: ${service} has no DATABASE_URL`);
    const r = await exec(execInNetns(replica.netns, [process.execPath, '-e', SCRIPT]), {
      env: {
        ...process.env,
        DATABASE_URL: url,
        RESET_PG: PG_PATH,
        RESET_PLAN: JSON.stringify({ since: since.toISOString(), tables }),
      },
      allowFailure: true,
    });
    if (r.code !== 0) throw new Error(`fraud reset: ${service}: ${r.stderr.trim()}`);
    Object.assign(deleted, JSON.parse(r.stdout) as Record<string, number>);
  }
  return deleted;
}
