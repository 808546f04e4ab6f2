// The CLI as a user runs it: bad stack files fail before anything starts, with the file, line,
// column, field and fix, and the documented exit code.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/rampart.js', import.meta.url));

function rampart(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('rampart CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-cli-'));
  const stateDir = join(dir, 'state');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('GIVEN --help THEN every command of the foundation is listed', () => {
    const r = rampart(['--help']);
    assert.equal(r.code, 0);
    for (const cmd of ['up', 'down', 'ps', 'logs', 'exec', 'restart', 'config', 'doctor', 'daemon']) {
      assert.match(r.stdout, new RegExp(`\\n  ${cmd}\\b`));
    }
  });

  it('GIVEN a stack file with an unknown key and a wrong type WHEN up THEN both are reported precisely, exit 2, no daemon started', () => {
    const file = join(dir, 'rampart.yaml');
    writeFileSync(
      file,
      'version: 1\nname: shop\nservices:\n  web:\n    command: [node, web.js]\n    replicas: two\n    colour: red\n',
    );
    const r = rampart(['up', '-f', file, '-d'], { RAMPART_HOME: stateDir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error RAMPART_E_STACK_INVALID: /);
    assert.match(r.stderr, new RegExp(`${file.replaceAll('/', '\\/')}:6:15: services\\.web\\.replicas: `));
    assert.match(r.stderr, /:7:5: services\.web\.colour: unknown key 'colour'/);
    assert.match(r.stderr, /Fix: /);
    assert.equal(spawnSync('test', ['-e', join(stateDir, 'daemon.json')]).status, 1, 'no daemon was started');
  });

  it('GIVEN no stack file THEN up says which file is missing', () => {
    const r = rampart(['up', '-f', join(dir, 'nope.yaml'), '-d'], { RAMPART_HOME: stateDir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /RAMPART_E_STACK_NOT_FOUND: .*nope\.yaml/);
  });

  it('GIVEN an environment name too long for an interface THEN up refuses it with the kernel limit', () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'version: 1\nname: shop\nservices:\n  web:\n    command: [node, web.js]\n');
    const r = rampart(['up', '-f', file, '-e', 'production', '-d'], { RAMPART_HOME: stateDir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bridge 'rp-production-app' would be 17 characters, the kernel allows 15/);
  });

  it('GIVEN no daemon WHEN ps THEN a clear error says how to start one', () => {
    const r = rampart(['ps'], { RAMPART_HOME: join(dir, 'empty') });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /RAMPART_E_DAEMON_UNREACHABLE/);
    assert.match(r.stderr, /hint: Start the control plane with `rampart daemon`/);
  });
});
