import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffLines, diffPolicies, renderPolicyDiff, unifiedHunks } from './diff.ts';
import { addressBook, resolveFlow } from './flows.ts';
import { capturedFlows, flow, SHOP_HOST_IPS, shopWorld } from './fixtures/shop.ts';
import { aggregateFlows } from './learn.ts';
import { proposePolicies } from './propose.ts';
import type { NetworkPolicy } from './types.ts';

function proposal(extra = false): NetworkPolicy[] {
  const book = addressBook(shopWorld(), { hostIps: SHOP_HOST_IPS });
  const flows = [
    ...capturedFlows(),
    ...(extra ? [flow('198.18.0.2', '198.18.0.4', 8080, 1795651199000)] : []),
  ];
  return proposePolicies(shopWorld(), aggregateFlows(flows.map((f) => resolveFlow(book, f))));
}

describe('diffLines', () => {
  it('GIVEN random line lists THEN the edit script rebuilds both sides', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 200; round++) {
      const a = Array.from({ length: rand(12) }, () => String.fromCharCode(97 + rand(4)));
      const b = Array.from({ length: rand(12) }, () => String.fromCharCode(97 + rand(4)));
      const ops = diffLines(a, b);
      assert.deepEqual(
        ops.filter((o) => o.kind !== '+').map((o) => o.line),
        a,
      );
      assert.deepEqual(
        ops.filter((o) => o.kind !== '-').map((o) => o.line),
        b,
      );
    }
  });

  it('GIVEN one changed line among many THEN one hunk with 3 lines of context', () => {
    const a = Array.from({ length: 20 }, (_, i) => `l${i}`);
    const b = a.map((l) => (l === 'l10' ? 'L10' : l));
    assert.deepEqual(unifiedHunks(diffLines(a, b)), [
      '@@ -8,7 +8,7 @@',
      ' l7',
      ' l8',
      ' l9',
      '-l10',
      '+L10',
      ' l11',
      ' l12',
      ' l13',
    ]);
    assert.deepEqual(unifiedHunks(diffLines(a, a)), []);
  });
});

describe('diffPolicies', () => {
  it('GIVEN the same policies in another order THEN nothing changed', () => {
    const p = proposal();
    const d = diffPolicies(p, [...p].reverse());
    assert.deepEqual([d.added, d.removed, d.changed], [[], [], []]);
    assert.equal(d.unchanged.length, 4);
  });

  it('GIVEN a new learned edge and a removed policy WHEN diffed THEN rule-level changes and a unified diff show it', () => {
    const current = proposal().filter((p) => p.metadata.name !== 'client');
    const next = proposal(true);
    const d = diffPolicies(current, next);
    assert.deepEqual(
      d.added.map((p) => p.metadata.name),
      ['client'],
    );
    assert.deepEqual(
      d.changed.map((c) => c.id),
      ['shop/api', 'shop/web'],
    );
    const api = d.changed[0]!;
    assert.deepEqual(
      [api.ingress.added.length, api.ingress.removed.length, api.egress.added.length],
      [1, 0, 0],
    );
    assert.deepEqual(api.fields, []);
    const text = renderPolicyDiff(d);
    assert.match(
      text,
      /^1 added, 0 removed, 2 changed, 1 unchanged\n\+ shop\/client\n~ shop\/api: ingress \+1 -0 rules\n~ shop\/web: egress \+1 -0 rules\n/,
    );
    assert.match(text, /\n--- current\/shop\/api\n\+\+\+ proposed\/shop\/api\n@@ /);
    assert.match(
      text,
      /\n--- \/dev\/null\n\+\+\+ proposed\/shop\/client\n@@ -0,0 \+1,\d+ @@\n\+apiVersion: networking.k8s.io\/v1\n/,
    );
    assert.match(text, /\n\+ {14}app.kubernetes.io\/name: web\n/);
  });

  it('GIVEN a policy whose selector and types changed THEN those fields are named', () => {
    const [before] = proposal();
    const after: NetworkPolicy = {
      ...before!,
      spec: { ...before!.spec, podSelector: { matchLabels: { tier: 'api' } }, policyTypes: ['Ingress'] },
    };
    assert.deepEqual(diffPolicies([before!], [after]).changed[0]!.fields, ['podSelector', 'policyTypes']);
  });
});
