import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  asUser,
  postgresServerCommand,
  preparePostgresData,
  provisionPostgres,
  roleNameFor,
  writePgHba,
  type ProvisionedUser,
} from '../../src/databases/index.ts';
import { realExec } from '../../src/platform/exec.ts';
import { freePort, postgresTestSkipReason } from '../../src/testing/postgres.ts';

const skip = postgresTestSkipReason();

// GIVEN a managed database `shop` used by two services, run the way the runtime runs it (server as
// postgres, our pg_hba.conf), on loopback instead of a namespace address.
describe('managed PostgreSQL engine', { skip }, () => {
  const superuserPassword = randomBytes(12).toString('hex');
  const services = ['orders', 'billing-svc'];
  let base = '';
  let dataDir = '';
  let socketDir = '';
  let port = 0;
  let server: ChildProcess | undefined;
  let serverLog = '';

  async function startServer(): Promise<void> {
    const { argv, user } = postgresServerCommand({ dataDir, listenAddress: '127.0.0.1', port, socketDir });
    const [file, ...args] = asUser(user, argv);
    const child = spawn(file as string, args, { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (b: Buffer) => (serverLog += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (serverLog += b.toString()));
    server = child;
    // Ready when the superuser can log in over the socket (password required there too).
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}:\n${serverLog}`);
      const client = new pg.Client({
        host: socketDir,
        port,
        user: 'postgres',
        password: superuserPassword,
        database: 'postgres',
      });
      try {
        await client.connect();
        await client.end();
        return;
      } catch (error) {
        await client.end().catch(() => undefined);
        if (i > 300)
          throw new Error(`postgres never accepted connections: ${(error as Error).message}\n${serverLog}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async function stopServer(): Promise<void> {
    const child = server;
    server = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT'); // PostgreSQL's "fast" shutdown
    await exited;
  }

  const provision = (users: { service: string; password: string }[]) =>
    provisionPostgres({
      host: '127.0.0.1',
      port,
      superuserPassword,
      database: 'shop',
      users,
      connectHost: socketDir,
    });

  async function withClient<T>(connectionString: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  const passwords = {
    orders: randomBytes(12).toString('base64'),
    'billing-svc': 'p@ss:w/rd with spaces & #',
  };
  let urls: Record<string, string> = {};
  const byService = (list: ProvisionedUser[]) =>
    Object.fromEntries(list.map((u) => [u.service, u.databaseUrl]));

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'rampart-pg-engine-'));
    await chmod(base, 0o711);
    dataDir = join(base, 'db', 'data');
    socketDir = join(base, 'db', 'run');
    port = await freePort();
  });

  after(async () => {
    await stopServer();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('WHEN the data dir is prepared twice THEN initdb runs once', async () => {
    assert.deepEqual(await preparePostgresData({ exec: realExec, dataDir, socketDir, superuserPassword }), {
      created: true,
    });
    assert.deepEqual(await preparePostgresData({ exec: realExec, dataDir, socketDir, superuserPassword }), {
      created: false,
    });
  });

  it('WHEN the server starts with our pg_hba.conf and the database is provisioned THEN each service gets a URL', async () => {
    await writePgHba({
      dataDir,
      dbSubnet: '127.0.0.0/8',
      grants: services.map((s) => ({ database: 'shop', role: roleNameFor(s) })),
    });
    await startServer();
    urls = byService(
      await provision(
        services.map((service) => ({ service, password: passwords[service as keyof typeof passwords] })),
      ),
    );
    assert.equal(
      urls.orders,
      `postgres://orders:${encodeURIComponent(passwords.orders)}@127.0.0.1:${port}/shop`,
    );
    assert.equal(
      urls['billing-svc'],
      `postgres://billing_svc:${encodeURIComponent(passwords['billing-svc'])}@127.0.0.1:${port}/shop`,
    );
  });

  it('THEN each service connects with its URL and creates a table in its own schema', async () => {
    for (const [service, role] of [
      ['orders', 'orders'],
      ['billing-svc', 'billing_svc'],
    ] as const) {
      await withClient(urls[service] as string, async (c) => {
        assert.equal((await c.query('SELECT current_schema() AS s')).rows[0].s, role);
        await c.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
        await c.query('INSERT INTO items VALUES (1, $1)', [`${service} item`]);
      });
    }
  });

  it("THEN one service cannot read the other's schema, nor use public", async () => {
    await withClient(urls['billing-svc'] as string, async (c) => {
      await assert.rejects(c.query('SELECT * FROM orders.items'), { code: '42501' });
      await assert.rejects(c.query('CREATE TABLE public.leak (x int)'), { code: '42501' });
    });
  });

  it('THEN pg_hba rejects everything not granted: the superuser over TCP, a service on another database', async () => {
    const superTcp = `postgres://postgres:${superuserPassword}@127.0.0.1:${port}/postgres`;
    await assert.rejects(
      withClient(superTcp, async () => undefined),
      { code: '28000' },
    );
    const otherDb = (urls.orders as string).replace(/\/shop$/, '/postgres');
    await assert.rejects(
      withClient(otherDb, async () => undefined),
      { code: '28000' },
    );
    const wrongPassword = (urls.orders as string).replace(encodeURIComponent(passwords.orders), 'nope');
    await assert.rejects(
      withClient(wrongPassword, async () => undefined),
      { code: '28P01' },
    );
  });

  it('WHEN provisioning runs again THEN it succeeds, URLs are unchanged and data is intact', async () => {
    const again = byService(
      await provision(
        services.map((service) => ({ service, password: passwords[service as keyof typeof passwords] })),
      ),
    );
    assert.deepEqual(again, urls);
    await withClient(urls.orders as string, async (c) => {
      assert.deepEqual((await c.query('SELECT name FROM items')).rows, [{ name: 'orders item' }]);
    });
  });

  it('WHEN a password is rotated by provisioning THEN the old URL stops working and the new one works', async () => {
    const rotated = byService(await provision([{ service: 'orders', password: 'rotated-password' }]));
    await assert.rejects(
      withClient(urls.orders as string, async () => undefined),
      { code: '28P01' },
    );
    await withClient(rotated.orders as string, async (c) => {
      assert.equal((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 1);
    });
    urls.orders = rotated.orders as string;
  });

  it('WHEN the server restarts (after prepare, which does nothing) THEN the data is still there', async () => {
    await stopServer();
    assert.deepEqual(await preparePostgresData({ exec: realExec, dataDir, socketDir, superuserPassword }), {
      created: false,
    });
    await startServer();
    await withClient(urls['billing-svc'] as string, async (c) => {
      assert.deepEqual((await c.query('SELECT name FROM items')).rows, [{ name: 'billing-svc item' }]);
    });
  });
});
