import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { untraversable } from './netns-driver.ts';

describe('netns driver host checks', () => {
  it('GIVEN a folder under a 0700 parent WHEN checked THEN the closed parent is named, and none once o+x', () => {
    const top = mkdtempSync(join(tmpdir(), 'rampart-trav-')); // 0700, as mktemp -d makes it
    try {
      const inner = join(top, 'checkout');
      mkdirSync(inner, { mode: 0o755 });
      chmodSync(top, 0o700);
      assert.deepEqual(untraversable(inner), [top]);
      chmodSync(top, 0o701);
      assert.deepEqual(untraversable(inner), []);
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  });
});
