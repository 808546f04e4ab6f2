import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, RampartError } from './errors.ts';

describe('error registry', () => {
  it('GIVEN docs/errors.md THEN it documents every code, and nothing else', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const documented = new Set([...doc.matchAll(/`(RAMPART_E_[A-Z_]+)`/g)].map((m) => m[1]));
    assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort());
  });

  it('GIVEN an error with a specific fix THEN the hint is the fix, else the registry hint', () => {
    assert.equal(new RampartError('RAMPART_E_NOT_FOUND', 'x', { fix: 'do y' }).hint, 'do y');
    assert.equal(new RampartError('RAMPART_E_NOT_FOUND', 'x').hint, ERROR_CODES.RAMPART_E_NOT_FOUND.hint);
    assert.equal(new RampartError('RAMPART_E_NOT_ROOT', 'x').exitCode, 3);
  });
});
