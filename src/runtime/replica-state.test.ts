import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, canTransition, transition } from './replica-state.ts';
import { RampartError } from '../platform/errors.ts';

describe('replica state machine', () => {
  it('GIVEN a pending replica WHEN it starts, spawns, crashes and retries THEN it walks the documented path', () => {
    let s = transition('pending', { type: 'start' });
    assert.equal(s, 'starting');
    s = transition(s, { type: 'spawned', pid: 42 });
    assert.equal(s, 'running');
    s = transition(s, { type: 'exited', code: 1, signal: null });
    assert.equal(s, 'backoff');
    s = transition(s, { type: 'retry' });
    assert.equal(s, 'starting');
  });

  it('GIVEN a running replica WHEN stopped THEN it goes through stopping to stopped', () => {
    const s = transition('running', { type: 'stop' });
    assert.equal(s, 'stopping');
    assert.equal(transition(s, { type: 'exited', code: null, signal: 'SIGTERM' }), 'stopped');
  });

  it('GIVEN a stopped replica WHEN told it spawned THEN the illegal call throws with a stable code', () => {
    assert.throws(
      () => transition('stopped', { type: 'spawned', pid: 1 }),
      (e: unknown) =>
        e instanceof RampartError && e.code === 'RAMPART_E_ILLEGAL_TRANSITION' && /stopped/.test(e.message),
    );
    assert.equal(canTransition('stopped', 'spawned'), false);
  });

  it('GIVEN consecutive crashes THEN the backoff doubles up to the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n)),
      [1000, 2000, 4000, 8000, 16000, 30000, 30000],
    );
  });
});
