import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RampartError } from '../platform/errors.ts';
import { recordingExec, type Exec } from '../platform/exec.ts';
import { cockroachServerCommand, findCockroach } from './cockroach.ts';

/** What realExec does when the binary is not on PATH. */
const noCockroach: Exec = async (argv) => {
  throw new RampartError('RAMPART_E_MISSING_TOOL', `${argv[0]}: not found. Is it installed on your system?`);
};

describe('findCockroach', () => {
  it('GIVEN no cockroach on PATH WHEN looked for THEN RAMPART_E_DATABASE_ENGINE with an install fix', async () => {
    await assert.rejects(findCockroach(noCockroach), (error: unknown) => {
      assert.ok(error instanceof RampartError);
      assert.equal(error.code, 'RAMPART_E_DATABASE_ENGINE');
      assert.equal(error.message, 'engine cockroachdb needs the cockroach binary on PATH, and there is none');
      assert.match(error.hint, /cockroach to \/usr\/local\/bin/);
      assert.match(error.hint, /engine: postgres/);
      return true;
    });
  });

  it('GIVEN a cockroach that fails to run WHEN looked for THEN the error carries its stderr', async () => {
    const exec = recordingExec(() => ({ code: 126, stderr: 'cannot execute binary file' }));
    await assert.rejects(findCockroach(exec), {
      code: 'RAMPART_E_DATABASE_ENGINE',
      message: 'engine cockroachdb: `cockroach version` exited with 126: cannot execute binary file',
    });
  });

  it('GIVEN cockroach on PATH WHEN looked for THEN its version is returned', async () => {
    const exec = recordingExec(() => ({ stdout: 'v23.2.4\n' }));
    assert.deepEqual(await findCockroach(exec), { binary: 'cockroach', version: 'v23.2.4' });
    assert.deepEqual(exec.calls[0]?.argv, ['cockroach', 'version', '--build-tag']);
  });
});

describe('cockroachServerCommand', () => {
  it('GIVEN cockroach on PATH WHEN asked THEN a single insecure node on the given address', async () => {
    const exec = recordingExec(() => ({ stdout: 'v23.2.4' }));
    const command = await cockroachServerCommand({
      exec,
      storeDir: '/var/lib/rampart/db/x',
      listenAddress: '198.18.1.2',
      port: 26257,
    });
    assert.deepEqual(command.argv, [
      'cockroach',
      'start-single-node',
      '--insecure',
      '--listen-addr=198.18.1.2:26257',
      '--store=/var/lib/rampart/db/x',
      '--http-addr=198.18.1.2:0',
    ]);
  });

  it('GIVEN no cockroach WHEN asked THEN it throws before building argv', async () => {
    await assert.rejects(
      cockroachServerCommand({ exec: noCockroach, storeDir: '/x', listenAddress: '198.18.1.2', port: 26257 }),
      { code: 'RAMPART_E_DATABASE_ENGINE' },
    );
  });
});
