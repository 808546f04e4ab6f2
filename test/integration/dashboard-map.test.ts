// The dashboard's map model and layout (web/src/map): pure functions, run here under Node.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { layoutGraph } from '../../web/src/map/layout.ts';
import { aggregate, buildGraph, edgeLabel, namespacesOf } from '../../web/src/map/model.ts';
import type { Alert, Replica, RuleUsage } from '../../web/src/types.ts';

const replica = (namespace: string, service: string, kind: Replica['kind'] = 'service'): Replica => ({
  id: `e/${namespace}/${service}-0`,
  environment: 'e',
  namespace,
  service,
  replica: 0,
  kind,
  state: 'running',
  healthy: true,
  health: 'healthy',
  addresses: { app: '198.18.0.2' },
  vip: undefined,
  pid: 1,
  restarts: 0,
  netns: 'x',
});
const red = { requests: 10, errors: 1, rate: 2, errorRate: 0.1, p50Ms: 1, p95Ms: 12, p99Ms: 20 };
const alert = (src: string, dst: string, decision: Alert['decision'], srcNs = 'shop'): Alert => ({
  id: `${src}-${dst}`,
  kind: 'out-of-policy',
  src: { kind: 'pod', ip: '198.18.0.3', namespace: srcNs, service: src },
  dst: { kind: 'pod', ip: '198.18.0.4', namespace: 'shop', service: dst },
  protocol: 'TCP',
  port: 8080,
  mode: 'protect',
  decision,
  decidedBy: 'no policy allows it',
  count: 1,
  firstSeen: 1000,
  lastSeen: 2000,
});
const rule = (name: string, provenance: RuleUsage['provenance']): RuleUsage => ({
  rule: name,
  policy: name.split(' ')[0]!,
  direction: 'ingress',
  index: 0,
  provenance,
  hits: 3,
  edges: 1,
});

describe('dashboard map model', () => {
  const replicas = [
    replica('shop', 'web'),
    replica('shop', 'api'),
    replica('shop', 'cache'),
    replica('shop', 'db', 'database'),
    replica('ops', 'probe'),
  ];

  it('GIVEN traces naming bare services, flows, alerts and allowed connections THEN each edge gets its firewall state', () => {
    const g = buildGraph({
      replicas,
      map: {
        windowMs: 300_000,
        nodes: [
          { id: 'web', kind: 'service', ...red },
          { id: 'api', kind: 'service', ...red },
        ],
        edges: [{ from: 'web', to: 'api', sources: ['trace'], connections: 0, ...red }],
      },
      flows: [
        {
          src: { kind: 'service', namespace: 'shop', service: 'api' },
          dst: { kind: 'service', namespace: 'shop', service: 'cache' },
          protocol: 'TCP',
          port: 6379,
          firstSeen: 1,
          lastSeen: 2,
          count: 4,
          srcReplicas: ['api-0'],
          dstReplicas: ['cache-0'],
        },
      ],
      alerts: [alert('probe', 'db', 'blocked', 'ops'), alert('cache', 'api', 'allowed-in-monitor')],
      compliance: {
        forwarding: 'emits',
        rules: [],
        services: [],
        violations: [],
        connections: [
          {
            client: 'shop/web',
            server: 'shop/api',
            protocol: 'TCP',
            port: 8080,
            allowedBy: 'allowed by shop/api-in ingress[0]',
          },
          {
            client: 'shop/api',
            server: 'shop/cache',
            protocol: 'TCP',
            port: 6379,
            allowedBy: 'allowed by shop/cache-learned ingress[0]',
          },
        ],
      },
      rules: [rule('shop/api-in ingress[0]', 'declared'), rule('shop/cache-learned ingress[0]', 'learned')],
    });
    const state = Object.fromEntries(g.edges.map((e) => [e.id, e.state]));
    assert.deepEqual(state, {
      'shop/web->shop/api': 'policy',
      'shop/api->shop/cache': 'learned',
      'ops/probe->shop/db': 'blocked',
      'shop/cache->shop/api': 'alerting',
    });
    const web = g.edges.find((e) => e.id === 'shop/web->shop/api')!;
    assert.equal(web.rules[0]?.rule, 'shop/api-in ingress[0]');
    assert.equal(edgeLabel(web), '2.0/s · 10% err · p95 12ms');
    assert.equal(g.nodes.find((n) => n.id === 'shop/db')?.network, 'db');
    assert.equal(g.nodes.find((n) => n.id === 'shop/web')?.red?.rate, 2);
  });

  it('GIVEN collapsed namespaces THEN edges between them add up and keep the worst state', () => {
    const g = buildGraph({ replicas, alerts: [alert('probe', 'db', 'blocked', 'ops')] });
    g.edges.push({
      ...g.edges[0]!,
      id: 'ops/probe->shop/web',
      to: 'shop/web',
      state: 'learned',
      alerts: [],
      rate: 1,
      requests: 5,
    });
    const a = aggregate(g, new Set(['shop', 'ops']));
    assert.deepEqual(a.nodes.map((n) => [n.id, n.members]).sort(), [
      ['ns:ops', 1],
      ['ns:shop', 4],
    ]);
    assert.equal(a.edges.length, 1);
    assert.equal(a.edges[0]!.state, 'blocked');
    assert.equal(a.edges[0]!.members, 2);
  });

  it('GIVEN 500 services THEN every node gets a place inside its namespace box, databases in their column', () => {
    const many = Array.from({ length: 500 }, (_, i) =>
      replica(`ns${i % 25}`, `s${i}`, i % 10 === 0 ? 'database' : 'service'),
    );
    const g = buildGraph({ replicas: many });
    const l = layoutGraph(g.nodes, namespacesOf(g));
    assert.equal(l.positions.size, 500);
    for (const n of g.nodes) {
      const p = l.positions.get(n.id)!;
      const box = l.boxes.find((b) => b.namespace === n.namespace)!;
      assert.ok(p.x > box.x && p.x < box.x + box.w && p.y > box.y && p.y < box.y + box.h, n.id);
      if (n.network === 'db') assert.ok(p.x > box.dbX!, `${n.id} in the db column`);
    }
  });
});
