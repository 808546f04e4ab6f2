import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Starts the gateway with `env` on top of a minimal environment; it must refuse to start. */
function startRefused(env: Record<string, string>): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'server.ts')], {
    cwd: here,
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr };
}

describe('gateway config', () => {
  it('GIVEN an admission window that is not a number WHEN the gateway starts THEN it refuses, naming the key', () => {
    const r = startRefused({ gateway_batch__windowMs: 'soon' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /gateway config batch\.windowMs: "soon" is not a number of milliseconds/);
  });

  it('GIVEN a negative window step WHEN the gateway starts THEN it refuses, naming the key', () => {
    const r = startRefused({ gateway_batch__windowMs: '15', gateway_batch__windowStepMs: '-2' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /gateway config batch\.windowStepMs: "-2" is not a number of milliseconds/);
  });

  it('GIVEN a batch size that is not a whole number WHEN the gateway starts THEN it refuses, naming the key', () => {
    const r = startRefused({ gateway_batch__maxBatch: 'lots' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /gateway config batch\.maxBatch: "lots" is not a whole number \(1 or more\)/);
    const zero = startRefused({ gateway_batch__maxConcurrent: '0' });
    assert.notEqual(zero.status, 0);
    assert.match(zero.stderr, /gateway config batch\.maxConcurrent: "0" is not a whole number/);
  });
});
