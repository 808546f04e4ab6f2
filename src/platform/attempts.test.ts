import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { attempts } from './attempts.ts';

describe('attempts', () => {
  it('GIVEN steps of which some fail WHEN each is attempted THEN all run and the failures are listed in order', async () => {
    const { attempt, failed } = attempts();
    const ran: string[] = [];
    const results = [
      await attempt('a', () => ran.push('a')),
      await attempt('b', async () => {
        ran.push('b');
        throw new Error('busy');
      }),
      await attempt('c', () => {
        ran.push('c');
        throw 'plain';
      }),
      await attempt('d', async () => ran.push('d')),
    ];
    assert.deepEqual(ran, ['a', 'b', 'c', 'd']);
    assert.deepEqual(results, [true, false, false, true]);
    assert.deepEqual(failed, [
      { object: 'b', error: 'busy' },
      { object: 'c', error: 'plain' },
    ]);
  });
});
