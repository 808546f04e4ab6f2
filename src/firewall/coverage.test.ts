import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { learningCoverage, renderCoverage, ruleUsage, unusedRules } from './coverage.ts';
import { addressBook, resolveFlow } from './flows.ts';
import { capturedFlows, SHOP_HOST_IPS, shopWorld } from './fixtures/shop.ts';
import { aggregateFlows } from './learn.ts';
import { proposePolicies } from './propose.ts';
import type { NetworkPolicy } from './types.ts';

const T0 = 1795651190754; // first captured flow

function learned() {
  const book = addressBook(shopWorld(), { hostIps: SHOP_HOST_IPS });
  return aggregateFlows(capturedFlows().map((f) => resolveFlow(book, f)));
}

describe('learningCoverage', () => {
  it('GIVEN the learned edges WHEN asked 10 minutes later with a 5-minute window THEN nothing is new and the last new edge is dated', () => {
    const rows = learningCoverage(shopWorld(), learned(), { now: T0 + 10 * 60_000, windowMs: 5 * 60_000 });
    assert.deepEqual(
      rows.map((r) => [r.service, r.edges, r.connections, r.newEdgesInWindow]),
      [
        ['shop/api', 2, 2, 0],
        ['shop/client', 2, 4, 0],
        ['shop/pg', 1, 1, 0],
        ['shop/web', 4, 6, 0],
      ],
    );
    const web = rows.find((r) => r.service === 'shop/web')!;
    assert.equal(web.lastNewEdgeAt, 1795651194815); // the host -> web-1 connection
    assert.equal(web.msSinceLastNewEdge, T0 + 10 * 60_000 - 1795651194815);
    assert.match(
      renderCoverage(rows, 5 * 60_000),
      /^SERVICE\s+EDGES\s+CONNECTIONS\s+NEW IN 5m\s+LAST NEW EDGE\nshop\/api\s+2\s+2\s+0\s+10m ago\n/,
    );
  });

  it('GIVEN a window covering the capture THEN every edge counts as new; a service without edges says never', () => {
    const world = shopWorld();
    const rows = learningCoverage(
      {
        ...world,
        pods: [...world.pods, { ...world.pods[1]!, service: 'idle', name: 'idle-0', ips: ['198.18.0.9'] }],
      },
      learned(),
      { now: T0 + 60_000 },
    );
    assert.equal(rows.find((r) => r.service === 'shop/web')!.newEdgesInWindow, 4);
    assert.deepEqual(
      rows.find((r) => r.service === 'shop/idle'),
      { service: 'shop/idle', edges: 0, connections: 0, newEdgesInWindow: 0 },
    );
  });
});

describe('ruleUsage', () => {
  it('GIVEN the proposal plus a declared rule nobody uses THEN hits and provenance per rule, and the unused rule listed', () => {
    const edges = learned();
    const declared: NetworkPolicy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'metrics', namespace: 'shop' },
      spec: {
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'web' } },
        policyTypes: ['Ingress'],
        ingress: [
          { from: [{ ipBlock: { cidr: '203.0.113.0/24' } }], ports: [{ protocol: 'TCP', port: 9100 }] },
        ],
      },
    };
    const usage = ruleUsage(shopWorld(), [...proposePolicies(shopWorld(), edges), declared], edges, {
      hostIps: SHOP_HOST_IPS,
    });
    const web0 = usage.find((u) => u.rule === 'shop/web ingress[0]')!;
    assert.deepEqual(web0, {
      rule: 'shop/web ingress[0]',
      policy: 'shop/web',
      direction: 'ingress',
      index: 0,
      provenance: 'learned',
      hits: 3,
      edges: 1,
      firstHit: 1795651190754,
      lastHit: 1795651191421,
    });
    assert.deepEqual(
      unusedRules(usage).map((u) => [u.rule, u.provenance]),
      [['shop/metrics ingress[0]', 'declared']],
    );
  });
});
