import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingExec } from '../platform/exec.ts';
import { asUser, postgresServerCommand, preparePostgresData, renderPgHba, writePgHba } from './postgres.ts';
import { roleNameFor, scramVerifier } from './provision.ts';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rampart-pg-unit-'));
  dirs.push(dir);
  return dir;
}
/** A bin dir with stand-ins for the server binaries, so the install check passes on any machine. */
async function fakeBinDir(): Promise<string> {
  const dir = join(await tempDir(), 'bin');
  await mkdir(dir);
  for (const name of ['postgres', 'initdb']) {
    await writeFile(join(dir, name), '#!/bin/sh\n');
    await chmod(join(dir, name), 0o755);
  }
  return dir;
}

describe('preparePostgresData', () => {
  it('GIVEN no cluster WHEN prepared THEN the dir is handed to postgres and initdb runs as postgres with scram and a password file', async () => {
    const base = await tempDir();
    const binDir = await fakeBinDir();
    const dataDir = join(base, 'state', 'db', 'data');
    let password: string | undefined;
    const exec = recordingExec((argv) => {
      const pwfile = argv.find((a) => a.startsWith('--pwfile='))?.slice('--pwfile='.length);
      // Read it while initdb would: it is deleted afterwards.
      if (pwfile) password = readFileSync(pwfile, 'utf8');
      return undefined;
    });

    assert.deepEqual(await preparePostgresData({ exec, dataDir, superuserPassword: 's3cret', binDir }), {
      created: true,
    });

    assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(base, 'state'))).mode & 0o777, 0o711);
    const argvs = exec.calls.map((c) => c.argv);
    assert.deepEqual(argvs[0], ['chown', 'postgres:postgres', dataDir]);
    assert.deepEqual(argvs[1], asUser('postgres', ['test', '-x', dataDir]));
    assert.equal(argvs[2]?.[0], 'chown');
    const initdb = argvs[3] ?? [];
    const pwfileArg = initdb.find((a) => a.startsWith('--pwfile=')) ?? '';
    assert.deepEqual(initdb, [
      'setpriv',
      '--reuid=postgres',
      '--regid=postgres',
      '--clear-groups',
      '--',
      join(binDir, 'initdb'),
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth-local=scram-sha-256',
      '--auth-host=scram-sha-256',
      pwfileArg,
      '--encoding=UTF8',
      '--locale=C',
    ]);
    assert.equal(password, 's3cret\n');
    assert.ok(!initdb.some((a) => a.includes('s3cret')), 'the password never appears in argv');
    await assert.rejects(
      stat(pwfileArg.slice('--pwfile='.length)),
      { code: 'ENOENT' },
      'the password file is removed',
    );
  });

  it('GIVEN a cluster (PG_VERSION 15) WHEN prepared again THEN nothing runs', async () => {
    const dataDir = join(await tempDir(), 'data');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'PG_VERSION'), '15\n');
    const exec = recordingExec();
    assert.deepEqual(
      await preparePostgresData({ exec, dataDir, superuserPassword: 'x', binDir: '/nonexistent' }),
      {
        created: false,
      },
    );
    assert.deepEqual(exec.calls, []);
  });

  it('GIVEN a cluster of another major version WHEN prepared THEN RAMPART_E_DATABASE says so', async () => {
    const dataDir = join(await tempDir(), 'data');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'PG_VERSION'), '13\n');
    await assert.rejects(preparePostgresData({ exec: recordingExec(), dataDir, superuserPassword: 'x' }), {
      code: 'RAMPART_E_DATABASE',
      message: `${dataDir} holds a PostgreSQL 13 cluster; this host runs PostgreSQL 15`,
    });
  });

  it('GIVEN a non-empty dir without PG_VERSION WHEN prepared THEN it refuses instead of overwriting', async () => {
    const dataDir = join(await tempDir(), 'data');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'base'), '');
    await assert.rejects(preparePostgresData({ exec: recordingExec(), dataDir, superuserPassword: 'x' }), {
      code: 'RAMPART_E_DATABASE',
      message: `${dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION)`,
    });
  });

  it('GIVEN a parent postgres cannot traverse WHEN prepared THEN RAMPART_E_DATABASE_ENGINE explains the fix', async () => {
    const dataDir = join(await tempDir(), 'data');
    const exec = recordingExec((argv) => (argv.includes('test') ? { code: 1 } : undefined));
    await assert.rejects(
      preparePostgresData({ exec, dataDir, superuserPassword: 'x', binDir: await fakeBinDir() }),
      {
        code: 'RAMPART_E_DATABASE_ENGINE',
        message: `the postgres user cannot reach ${dataDir}: a parent directory is not searchable by it`,
      },
    );
  });

  it('GIVEN no PostgreSQL server binaries WHEN prepared THEN RAMPART_E_DATABASE_ENGINE names the package', async () => {
    const dataDir = join(await tempDir(), 'data');
    await assert.rejects(
      preparePostgresData({
        exec: recordingExec(),
        dataDir,
        superuserPassword: 'x',
        binDir: '/nonexistent/bin',
      }),
      (error: { code?: string; hint?: string }) =>
        error.code === 'RAMPART_E_DATABASE_ENGINE' && /apt-get install postgresql-15/.test(error.hint ?? ''),
    );
  });
});

describe('postgresServerCommand', () => {
  it('GIVEN an address, port and dirs WHEN built THEN postgres listens only there with our hba file, as postgres', () => {
    assert.deepEqual(
      postgresServerCommand({
        dataDir: '/s/db/data',
        listenAddress: '198.19.0.3',
        port: 5432,
        socketDir: '/s/db/run',
      }),
      {
        argv: [
          '/usr/lib/postgresql/15/bin/postgres',
          '-D',
          '/s/db/data',
          '-c',
          'listen_addresses=198.19.0.3',
          '-p',
          '5432',
          '-c',
          'unix_socket_directories=/s/db/run',
          '-c',
          'hba_file=/s/db/data/pg_hba.conf',
        ],
        user: 'postgres',
      },
    );
  });

  it("GIVEN the stack's parameters WHEN built THEN each follows Rampart's own as -c name=value", () => {
    const { argv } = postgresServerCommand({
      dataDir: '/s/db/data',
      listenAddress: '198.19.0.3',
      port: 5432,
      socketDir: '/s/db/run',
      parameters: { shared_buffers: '512MB', 'auto_explain.log_min_duration': '250ms' },
    });
    assert.deepEqual(argv.slice(-4), [
      '-c',
      'shared_buffers=512MB',
      '-c',
      'auto_explain.log_min_duration=250ms',
    ]);
  });
});

describe('renderPgHba / writePgHba', () => {
  const options = {
    dbSubnet: '198.19.0.0/24',
    grants: [
      { database: 'shop', role: 'orders' },
      { database: 'shop', role: 'billing_svc' },
    ],
  };

  it('GIVEN grants WHEN rendered THEN superuser on the socket, each pair from the db subnet, nothing else', () => {
    assert.equal(
      renderPgHba(options),
      [
        '# Written by Rampart; rewritten on every deploy. Anything not listed here is rejected.',
        '# TYPE  DATABASE  USER  ADDRESS  METHOD',
        'local all postgres scram-sha-256',
        'host shop orders 198.19.0.0/24 scram-sha-256',
        'host shop billing_svc 198.19.0.0/24 scram-sha-256',
        '',
      ].join('\n'),
    );
  });

  it('GIVEN superuserFrom WHEN rendered THEN the superuser may also come from exactly those addresses', () => {
    assert.match(
      renderPgHba({ ...options, superuserFrom: ['198.19.0.1/32'] }),
      /\nhost all postgres 198\.19\.0\.1\/32 scram-sha-256\n/,
    );
  });

  it('GIVEN a name that is a keyword or could inject a line WHEN rendered THEN RAMPART_E_DATABASE', () => {
    for (const bad of ['all', 'a\nhost all all 0.0.0.0/0 trust', '+group', '@file', 'a b', 'Quoted"']) {
      assert.throws(() => renderPgHba({ ...options, grants: [{ database: 'shop', role: bad }] }), {
        code: 'RAMPART_E_DATABASE',
      });
    }
    assert.throws(() => renderPgHba({ ...options, dbSubnet: '0.0.0.0/0 trust' }), {
      code: 'RAMPART_E_DATABASE',
    });
  });

  it('GIVEN a data dir WHEN written THEN pg_hba.conf holds the rendering, readable by postgres', async () => {
    const dataDir = await tempDir();
    await writePgHba({ dataDir, ...options });
    assert.equal(await readFile(join(dataDir, 'pg_hba.conf'), 'utf8'), renderPgHba(options));
    assert.equal((await stat(join(dataDir, 'pg_hba.conf'))).mode & 0o777, 0o644);
  });
});

describe('roleNameFor', () => {
  it('GIVEN a service name with dashes WHEN mapped THEN dashes become underscores', () => {
    assert.equal(roleNameFor('billing-svc'), 'billing_svc');
    assert.equal(roleNameFor('orders'), 'orders');
  });

  it('GIVEN a service that would take a built-in role WHEN mapped THEN RAMPART_E_DATABASE', () => {
    for (const service of ['postgres', 'public', 'pg-monitor', 'root']) {
      assert.throws(() => roleNameFor(service), { code: 'RAMPART_E_DATABASE' });
    }
  });
});

describe('scramVerifier', () => {
  it('GIVEN a password and salt WHEN hashed THEN the PostgreSQL verifier format with RFC 7677 keys', () => {
    // Correctness is proven end to end in test/privileged/postgres-engine.test.ts (PostgreSQL accepts it).
    const verifier = scramVerifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'));
    const [, , keys] = verifier.split('$');
    assert.ok(verifier.startsWith('SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$'));
    assert.equal(
      keys
        ?.split(':')
        .map((k) => Buffer.from(k, 'base64').length)
        .join(','),
      '32,32',
    );
    assert.equal(scramVerifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64')), verifier);
  });

  it('GIVEN a non-ASCII password WHEN hashed THEN it is left for the server to hash (SASLprep)', () => {
    assert.equal(scramVerifier('pässwort'), 'pässwort');
  });
});
