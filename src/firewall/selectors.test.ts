import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatSelector,
  isDnsSubdomain,
  isEmptySelector,
  labelKeyProblem,
  labelValueProblem,
  matchesSelector,
} from './selectors.ts';

const web = { app: 'web', tier: 'front' };

describe('matchesSelector (Kubernetes label selector semantics)', () => {
  it('GIVEN an empty selector THEN it matches everything, even no labels', () => {
    assert.equal(matchesSelector({}, {}), true);
    assert.equal(matchesSelector({ matchLabels: {}, matchExpressions: [] }, web), true);
    assert.equal(isEmptySelector({ matchLabels: {} }), true);
  });

  it('GIVEN matchLabels THEN every pair must be present with that value', () => {
    assert.equal(matchesSelector({ matchLabels: { app: 'web' } }, web), true);
    assert.equal(matchesSelector({ matchLabels: { app: 'web', tier: 'back' } }, web), false);
    assert.equal(matchesSelector({ matchLabels: { missing: '' } }, web), false);
  });

  it('GIVEN In / NotIn THEN NotIn also matches objects without the key, In does not', () => {
    const inDb = { matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['front', 'db'] }] };
    const notInDb = { matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['db'] }] };
    assert.equal(matchesSelector(inDb, web), true);
    assert.equal(matchesSelector(inDb, { app: 'x' }), false);
    assert.equal(matchesSelector(notInDb, web), true);
    assert.equal(matchesSelector(notInDb, { tier: 'db' }), false);
    assert.equal(matchesSelector(notInDb, {}), true);
  });

  it('GIVEN Exists / DoesNotExist THEN only the key’s presence counts (an empty value exists)', () => {
    assert.equal(
      matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, { tier: '' }),
      true,
    );
    assert.equal(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, {}), false);
    assert.equal(
      matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, {}),
      true,
    );
    assert.equal(
      matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, web),
      false,
    );
  });

  it('GIVEN matchLabels and matchExpressions THEN all of them must hold (AND)', () => {
    const s = {
      matchLabels: { app: 'web' },
      matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['front'] }],
    };
    assert.equal(matchesSelector(s, web), false);
    assert.equal(matchesSelector(s, { app: 'web', tier: 'back' }), true);
  });

  it('GIVEN a key present on the prototype of objects THEN it is not mistaken for a label', () => {
    assert.equal(
      matchesSelector({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {}),
      false,
    );
  });
});

describe('formatSelector', () => {
  it('GIVEN selectors THEN they print as kubectl does', () => {
    assert.equal(formatSelector({}), '<all>');
    assert.equal(
      formatSelector({
        matchLabels: { tier: 'front', app: 'web' },
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['prod', 'dev'] },
          { key: 'legacy', operator: 'DoesNotExist' },
          { key: 'canary', operator: 'Exists' },
          { key: 'zone', operator: 'NotIn', values: ['b'] },
        ],
      }),
      'app=web,tier=front,env in (dev,prod),!legacy,canary,zone notin (b)',
    );
  });
});

describe('label syntax', () => {
  it('GIVEN label keys THEN prefixed and plain names pass, malformed ones say why', () => {
    assert.equal(labelKeyProblem('app.kubernetes.io/name'), undefined);
    assert.equal(labelKeyProblem('tier'), undefined);
    assert.match(labelKeyProblem('Example.com/x') ?? '', /prefix/);
    assert.match(labelKeyProblem('-bad') ?? '', /start and end/);
    assert.match(labelKeyProblem('a'.repeat(64)) ?? '', /1 to 63/);
  });

  it('GIVEN label values THEN empty is valid, spaces are not', () => {
    assert.equal(labelValueProblem(''), undefined);
    assert.equal(labelValueProblem('v1.2_rc-1'), undefined);
    assert.match(labelValueProblem('a b') ?? '', /letter or digit/);
  });

  it('GIVEN object names THEN DNS subdomains pass', () => {
    assert.equal(isDnsSubdomain('allow.web-1'), true);
    assert.equal(isDnsSubdomain('Allow'), false);
    assert.equal(isDnsSubdomain('a_b'), false);
  });
});
