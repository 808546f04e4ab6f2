import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressBook, resolveFlow } from './flows.ts';
import { capturedFlows, flow, SHOP_HOST_IPS, shopWorld } from './fixtures/shop.ts';
import { aggregateFlows, formatEdge } from './learn.ts';
import { proposePolicies } from './propose.ts';
import { renderReplayReport, replay } from './replay.ts';
import type { NetworkPolicy } from './types.ts';

function setup() {
  const world = shopWorld();
  const flows = capturedFlows();
  const book = addressBook(world, { hostIps: SHOP_HOST_IPS });
  const edges = aggregateFlows(flows.map((f) => resolveFlow(book, f)));
  const proposal = proposePolicies(world, edges);
  // The candidate forgets that client calls web.
  const candidate: NetworkPolicy[] = proposal.map((p) =>
    p.metadata.name === 'web' ? { ...p, spec: { ...p.spec, ingress: p.spec.ingress!.slice(1) } } : p,
  );
  return { world, flows, edges, proposal, candidate };
}

describe('replay', () => {
  it('GIVEN the recorded flows and their own proposal THEN nothing would be blocked', () => {
    const { world, flows, edges, proposal } = setup();
    const byFlows = replay(flows, world, proposal, { hostIps: SHOP_HOST_IPS });
    assert.deepEqual([byFlows.connections, byFlows.blocked], [9, 0]);
    const byEdges = replay(edges, world, proposal, { hostIps: SHOP_HOST_IPS });
    assert.deepEqual([byEdges.connections, byEdges.blocked, byEdges.unresolved], [8, 0, []]);
  });

  it('GIVEN a candidate without the client -> web rule THEN those connections would be blocked, with the reason', () => {
    const { world, flows, edges, candidate } = setup();
    for (const recorded of [flows, edges]) {
      const r = replay(recorded, world, candidate, { hostIps: SHOP_HOST_IPS });
      assert.equal(r.blocked, 3);
      assert.deepEqual(
        r.blockedEdges.map((b) => formatEdge(b.edge)),
        ['shop/client -> shop/web TCP/80 (http)'],
      );
      assert.match(
        r.blockedEdges[0]!.reason,
        /^no policy allows it \(ingress of shop\/web-\d is isolated by shop\/web\)$/,
      );
    }
    const text = renderReplayReport(replay(edges, world, candidate, { hostIps: SHOP_HOST_IPS }));
    assert.match(
      text,
      /^8 connections replayed: 5 allowed, 3 would be blocked\n {2}BLOCKED shop\/client -> shop\/web TCP\/80 \(http\) x3: no policy allows it/,
    );
  });

  it('GIVEN an edge of a service that is gone THEN it is listed as not evaluated', () => {
    const { world, proposal } = setup();
    const book = addressBook({
      ...world,
      pods: [...world.pods, { ...world.pods[1]!, service: 'old', name: 'old-0', ips: ['198.18.0.9'] }],
    });
    const edges = aggregateFlows([resolveFlow(book, flow('198.18.0.9', '198.18.0.2', 80, 1))]);
    const r = replay(edges, world, proposal);
    assert.deepEqual(r.unresolved.map(formatEdge), ['shop/old -> shop/web TCP/80 (http)']);
  });
});
