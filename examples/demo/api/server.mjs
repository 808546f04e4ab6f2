// The demo's API: on the app network for callers and on the db network for PostgreSQL, which it
// reaches through DATABASE_URL (its own role and schema, provisioned by Rampart).
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pg = require('pg');
const conf = require('rc')('api', { pool: { max: 2 } });
const replica = process.env.RAMPART_REPLICA_ID ?? 'api';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(conf.pool.max) });

// CockroachDB-compatible: retry the transaction on SQLSTATE 40001.
async function tx(fn) {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      if (error.code !== '40001' || attempt >= 5) throw error;
    } finally {
      client.release();
    }
  }
}

await pool.query(
  'CREATE TABLE IF NOT EXISTS visits (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), replica TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now())',
);

const server = http.createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.url === '/whoami') return res.end(replica);
  if (req.url === '/visits') {
    try {
      const count = await tx(async (c) => {
        await c.query('INSERT INTO visits (replica) VALUES ($1)', [replica]);
        const r = await c.query('SELECT count(*)::int AS n FROM visits');
        return r.rows[0].n;
      });
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ visits: count, servedBy: replica }));
    } catch (error) {
      console.error(JSON.stringify({ level: 'error', msg: 'query failed', error: error.message }));
      res.statusCode = 500;
      return res.end(JSON.stringify({ error: error.message }));
    }
  }
  res.statusCode = 404;
  res.end('not found');
});
server.listen(8080, () =>
  console.log(JSON.stringify({ level: 'info', msg: 'api listening', port: 8080, replica })),
);
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
