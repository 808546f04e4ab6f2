import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRampartError } from '../platform/errors.ts';
import { loadStack } from './index.ts';

const fullYaml = fileURLToPath(new URL('./fixtures/full.yaml', import.meta.url));

describe('loadStack', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'rampart-stack-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test('GIVEN the fixture on disk WHEN loaded THEN paths resolve against its folder', async () => {
    const stack = await loadStack({ file: fullYaml, environment: 'prod' });
    assert.equal(stack.file, fullYaml);
    assert.equal(stack.services.find((s) => s.name === 'web')?.workdir, join(stack.dir, 'web'));
  });

  test('GIVEN a missing file WHEN loaded THEN RAMPART_E_STACK_NOT_FOUND names the path', async () => {
    const missing = join(scratch, 'nope', 'rampart.yaml');
    await assert.rejects(loadStack({ file: missing, environment: 'prod' }), (error: unknown) => {
      assert.ok(isRampartError(error));
      assert.equal(error.code, 'RAMPART_E_STACK_NOT_FOUND');
      assert.equal(error.message, `stack file not found: ${missing}`);
      assert.equal(error.details.file, missing);
      return true;
    });
  });

  test('GIVEN a directory WHEN loaded THEN the error says to pass the file', async () => {
    await assert.rejects(loadStack({ file: scratch, environment: 'prod' }), (error: unknown) => {
      assert.ok(isRampartError(error));
      assert.equal(error.code, 'RAMPART_E_STACK_NOT_FOUND');
      assert.equal(error.details.fix, `pass the file itself, e.g. ${join(scratch, 'rampart.yaml')}`);
      return true;
    });
  });

  test('GIVEN an injected reader WHEN loaded THEN it is used with the absolute path', async () => {
    const read: string[] = [];
    const stack = await loadStack({
      file: '/virtual/rampart.yaml',
      environment: 'prod',
      readText: async (file) => {
        read.push(file);
        return 'version: 1\nname: virtual\n';
      },
    });
    assert.deepEqual(read, ['/virtual/rampart.yaml']);
    assert.equal(stack.name, 'virtual');
    assert.deepEqual(stack.services, []);
  });
});
