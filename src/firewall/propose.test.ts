import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEvaluator } from './evaluate.ts';
import { addressBook, resolveFlow } from './flows.ts';
import { capturedFlows, flow, readFixture, SHOP_HOST_IPS, shopWorld } from './fixtures/shop.ts';
import { aggregateFlows } from './learn.ts';
import { parsePolicies } from './policy.ts';
import { proposePolicies, renderProposalYaml } from './propose.ts';

/** The captured flows plus one to an external address, learned. */
function learned() {
  const book = addressBook(shopWorld(), { hostIps: SHOP_HOST_IPS });
  const flows = [...capturedFlows(), flow('198.18.0.4', '203.0.113.9', 443, 1795651195000)];
  return { flows, edges: aggregateFlows(flows.map((f) => resolveFlow(book, f))) };
}

describe('proposePolicies', () => {
  it('GIVEN the learned shop edges THEN one policy per service, both directions isolated, one rule per peer', () => {
    const policies = proposePolicies(shopWorld(), learned().edges);
    assert.deepEqual(
      policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
      ['shop/api', 'shop/client', 'shop/pg', 'shop/web'],
    );
    const web = policies.find((p) => p.metadata.name === 'web')!;
    assert.deepEqual(web.spec.podSelector, { matchLabels: { 'app.kubernetes.io/name': 'web' } });
    assert.deepEqual(web.spec.policyTypes, ['Ingress', 'Egress']);
    // From client and from web itself (web-0 -> VIP -> web-1); the host's connections are not rules.
    assert.deepEqual(web.spec.ingress, [
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'client' } },
          },
        ],
        ports: [{ protocol: 'TCP', port: 'http' }],
      },
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'web' } },
          },
        ],
        ports: [{ protocol: 'TCP', port: 'http' }],
      },
    ]);
    const api = policies.find((p) => p.metadata.name === 'api')!;
    assert.deepEqual(
      api.spec.egress?.map((r) => [r.to, r.ports]),
      [
        [[{ ipBlock: { cidr: '203.0.113.9/32' } }], [{ protocol: 'TCP', port: 443 }]],
        [
          [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'pg' } },
            },
          ],
          [{ protocol: 'TCP', port: 'postgres' }],
        ],
      ],
    );
    // A UDP port nobody declared is named by number.
    assert.deepEqual(api.spec.ingress?.[0]?.ports, [{ protocol: 'UDP', port: 9999 }]);
    assert.deepEqual(policies.find((p) => p.metadata.name === 'pg')!.spec.egress, []);
  });

  it('GIVEN the proposal WHEN every learned flow is evaluated THEN all are allowed, and flows never seen are denied', () => {
    const { flows, edges } = learned();
    // Published ports from 127.0.0.1 are the host too (the output path, never the forward hook).
    const check = createEvaluator(shopWorld(), proposePolicies(shopWorld(), edges), {
      hostIps: [...SHOP_HOST_IPS, '127.0.0.1'],
    });
    for (const f of flows) assert.ok(check(f).allowed, `${JSON.stringify(f)}: ${check(f).reason}`);
    const unseen = [
      flow('198.18.0.5', '198.18.0.4', 8080), // client -> api over TCP: only UDP/9999 was seen
      flow('198.18.0.2', '198.18.0.4', 8080), // web -> api
      flow('198.18.0.4', '198.18.0.2', 80), // api -> web
      flow('198.18.8.3', '198.18.8.2', 8080), // pg -> api (db side)
      flow('198.18.0.4', '203.0.113.10', 443), // api -> another external address
      flow('198.18.0.5', '198.18.0.2', 81), // client -> web on another port
    ];
    for (const f of unseen) {
      const v = check(f);
      assert.equal(v.allowed, false, `${JSON.stringify(f)}: ${v.reason}`);
      assert.match(v.reason, /^no policy allows it/);
    }
  });

  it('GIVEN the proposal WHEN rendered THEN it matches the golden file, parses back to the same policies and cites evidence', () => {
    const { edges } = learned();
    const policies = proposePolicies(shopWorld(), edges);
    const yaml = renderProposalYaml(policies, edges);
    assert.equal(yaml, readFixture('proposal-shop.golden.yaml'));
    assert.deepEqual(parsePolicies({ text: yaml, file: 'proposal.yaml' }), policies);
    assert.match(
      yaml,
      /# to shop\/web\n\s+# TCP\/80 \(http\): 3 connections to web-0, web-1, first 2026-11-25T23:59:50Z/,
    );
    assert.match(yaml, /# Not listed: 2 connections from the host, always allowed\./);
  });

  it('GIVEN no edges THEN every service gets a deny-all policy, unless idle services are left out', () => {
    const all = proposePolicies(shopWorld(), []);
    assert.equal(all.length, 4);
    assert.ok(all.every((p) => p.spec.ingress?.length === 0 && p.spec.egress?.length === 0));
    assert.deepEqual(proposePolicies(shopWorld(), [], { includeIdle: false }), []);
  });
});
