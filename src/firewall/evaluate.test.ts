import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createEvaluator, evaluate, ipBlockRanges, intToIpv4, policyTypesOf } from './evaluate.ts';
import { modelWorld, policy, type ModelPodId } from './golden/model.ts';
import type { Flow, NetworkPolicy, Protocol, World } from './types.ts';

const world = modelWorld();
const ip = (id: ModelPodId) => world.pods.find((p) => `${p.namespace}/${p.service}` === id)!.ips[0]!;
const OUTSIDE = '198.19.7.7';
const HOST = '198.18.16.1';

function flow(src: string, dst: string, dstPort = 80, protocol: Protocol = 'TCP'): Flow {
  const addr = (s: string) => (s.includes('/') ? ip(s as ModelPodId) : s);
  return { srcIp: addr(src), dstIp: addr(dst), protocol, dstPort, time: 0 };
}
const allowed = (
  policies: NetworkPolicy[],
  src: string,
  dst: string,
  port = 80,
  proto: Protocol = 'TCP',
  w: World = world,
) => evaluate(flow(src, dst, port, proto), w, policies).allowed;

const denyIngress = (ns: string) =>
  policy(ns, 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
const denyEgress = (ns: string) =>
  policy(ns, 'default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] });

describe('evaluate: isolation', () => {
  it('GIVEN no policy THEN every flow is allowed and the reason says nothing isolates it', () => {
    const v = evaluate(flow('x/a', 'y/b'), world, []);
    assert.equal(v.allowed, true);
    assert.equal(v.reason, 'allowed: no policy isolates either end');
    assert.deepEqual(v.ingress, { isolated: false, allowed: true, selectingPolicies: [], allowedBy: [] });
  });

  it('GIVEN default deny ingress in x WHEN anything reaches x THEN denied, naming the isolating policy; y stays open', () => {
    const policies = [denyIngress('x')];
    const v = evaluate(flow('y/a', 'x/b'), world, policies);
    assert.equal(v.allowed, false);
    assert.equal(v.reason, 'no policy allows it (ingress of x/b-0 is isolated by x/default-deny-ingress)');
    assert.deepEqual(v.ingress.selectingPolicies, ['x/default-deny-ingress']);
    assert.equal(allowed(policies, 'x/a', 'x/b'), false);
    assert.equal(allowed(policies, 'x/a', 'y/b'), true);
  });

  it('GIVEN default deny egress in x THEN x reaches nobody (not even the host) and y still reaches x', () => {
    const policies = [denyEgress('x')];
    assert.equal(allowed(policies, 'x/a', 'y/b'), false);
    assert.equal(allowed(policies, 'x/a', 'x/b'), false);
    assert.equal(allowed(policies, 'x/a', HOST), false);
    assert.equal(allowed(policies, 'y/a', 'x/b'), true);
    assert.equal(
      evaluate(flow('x/a', 'y/b'), world, policies).reason,
      'no policy allows it (egress of x/a-0 is isolated by x/default-deny-egress)',
    );
  });

  it('GIVEN allow-all ingress beside default deny THEN it is allowed by the empty rule', () => {
    const policies = [denyIngress('x'), policy('x', 'allow-all', { podSelector: {}, ingress: [{}] })];
    const v = evaluate(flow('y/c', 'x/a'), world, policies);
    assert.equal(v.allowed, true);
    assert.deepEqual(v.ingress.allowedBy, ['x/allow-all ingress[0]']);
    assert.equal(v.reason, 'allowed by x/allow-all ingress[0]; y/c-0 is not isolated for egress');
  });

  it('GIVEN a pod isolated both ways WHEN it talks to itself THEN it is allowed', () => {
    const policies = [denyIngress('x'), denyEgress('x')];
    const v = evaluate(flow('x/a', 'x/a'), world, policies);
    assert.equal(v.allowed, true);
    assert.equal(v.reason, 'allowed: a pod talking to itself is always allowed');
    assert.equal(v.ingress.isolated, true);
  });

  it('GIVEN a pod with two addresses WHEN it reaches its other address THEN it is itself', () => {
    const two: World = {
      ...world,
      pods: world.pods.map((p, i) => (i === 0 ? { ...p, ips: [p.ips[0]!, '198.18.24.10'] } : p)),
    };
    assert.equal(
      evaluate(flow('x/a', '198.18.24.10'), two, [denyIngress('x'), denyEgress('x')]).allowed,
      true,
    );
  });

  it('GIVEN default deny ingress WHEN the host reaches a pod THEN allowed with hostIps (the node exception), denied without', () => {
    const policies = [denyIngress('x')];
    assert.equal(evaluate(flow(HOST, 'x/a'), world, policies, { hostIps: [HOST] }).allowed, true);
    assert.equal(evaluate(flow(HOST, 'x/a'), world, policies).allowed, false);
  });

  it('GIVEN default deny egress WHEN a pod reaches the host THEN only TCP to the OTLP receiver port is allowed', () => {
    const policies = [denyEgress('x')];
    const otlp = evaluate(flow('x/a', HOST, 4318), world, policies, { hostIps: [HOST] });
    assert.equal(otlp.allowed, true);
    assert.match(otlp.reason, /telemetry receiver/);
    assert.equal(
      evaluate(flow('x/a', HOST, 4318, 'UDP'), world, policies, { hostIps: [HOST] }).allowed,
      false,
    );
    assert.equal(evaluate(flow('x/a', HOST, 7420), world, policies, { hostIps: [HOST] }).allowed, false);
    assert.equal(evaluate(flow('x/a', OUTSIDE, 4318), world, policies, { hostIps: [HOST] }).allowed, false);
  });

  it('GIVEN no pod on either end THEN allowed: no policy applies', () => {
    assert.equal(
      evaluate(flow(OUTSIDE, HOST), world, [denyIngress('x')]).reason,
      'allowed: neither end is a pod, no policy applies',
    );
  });

  it('GIVEN an outside address WHEN it reaches a pod THEN only the pod’s ingress decides', () => {
    const policies = [
      denyIngress('x'),
      policy('x', 'from-outside', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ ipBlock: { cidr: '198.19.0.0/16' } }] }],
      }),
    ];
    assert.equal(allowed(policies, OUTSIDE, 'x/a'), true);
    assert.equal(allowed(policies, OUTSIDE, 'x/b'), false);
  });
});

describe('evaluate: peers', () => {
  it('GIVEN a podSelector peer alone THEN it means pods of the policy’s own namespace', () => {
    const policies = [
      policy('x', 'from-a', {
        podSelector: { matchLabels: { pod: 'b' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }] }],
      }),
    ];
    assert.equal(allowed(policies, 'x/a', 'x/b'), true);
    assert.equal(allowed(policies, 'y/a', 'x/b'), false);
    assert.equal(allowed(policies, 'x/c', 'x/b'), false);
    assert.equal(allowed(policies, 'y/a', 'x/a'), true, 'x/a is not selected');
  });

  it('GIVEN a namespaceSelector peer alone THEN it means every pod of the matching namespaces', () => {
    const policies = [
      policy('x', 'from-y', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    ];
    for (const src of ['y/a', 'y/b', 'y/c']) assert.equal(allowed(policies, src, 'x/a'), true, src);
    assert.equal(allowed(policies, 'x/c', 'x/a'), false);
  });

  it('GIVEN namespaceSelector and podSelector in ONE peer THEN both must match (AND); in two peers either (OR)', () => {
    const and = [
      policy('x', 'and', {
        podSelector: {},
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } },
            ],
          },
        ],
      }),
    ];
    assert.equal(allowed(and, 'y/b', 'x/a'), true);
    assert.equal(allowed(and, 'y/a', 'x/a'), false);
    assert.equal(allowed(and, 'x/b', 'x/a'), false);
    const or = [
      policy('x', 'or', {
        podSelector: {},
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { ns: 'y' } } },
              { podSelector: { matchLabels: { pod: 'b' } } },
            ],
          },
        ],
      }),
    ];
    assert.equal(allowed(or, 'y/a', 'x/a'), true);
    assert.equal(allowed(or, 'x/b', 'x/a'), true);
    assert.equal(allowed(or, 'x/c', 'x/a'), false);
  });

  it('GIVEN namespaceSelector {} with a podSelector THEN it matches that pod in every namespace', () => {
    const policies = [
      policy('x', 'any-ns-b', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    ];
    assert.equal(allowed(policies, 'y/b', 'x/a'), true);
    assert.equal(allowed(policies, 'x/b', 'x/a'), true);
    assert.equal(allowed(policies, 'y/c', 'x/a'), false);
  });

  it('GIVEN a namespace selected by its name label (kubernetes.io/metadata.name) THEN it matches', () => {
    const policies = [
      policy('x', 'by-name', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }],
      }),
    ];
    assert.equal(allowed(policies, 'y/c', 'x/a'), true);
    assert.equal(allowed(policies, 'x/c', 'x/a'), false);
  });

  it('GIVEN an ipBlock with except THEN addresses inside pass, the except does not, and pod addresses count too', () => {
    const policies = [
      policy('x', 'block', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ ipBlock: { cidr: '198.18.16.0/24', except: ['198.18.16.14/32'] } }] }],
      }),
    ];
    assert.equal(allowed(policies, 'y/a', 'x/a'), true, 'pod address inside the cidr');
    assert.equal(allowed(policies, 'y/b', 'x/a'), false, 'y/b is 198.18.16.14, in except');
    assert.equal(allowed(policies, '198.18.17.1', 'x/a'), false, 'outside the cidr');
  });

  it('GIVEN an empty from list THEN every source is allowed', () => {
    const policies = [
      policy('x', 'all', {
        podSelector: {},
        ingress: [{ from: [], ports: [{ protocol: 'TCP', port: 80 }] }],
      }),
    ];
    assert.equal(allowed(policies, OUTSIDE, 'x/a', 80), true);
    assert.equal(allowed(policies, OUTSIDE, 'x/a', 81), false);
  });

  it('GIVEN matchExpressions THEN In, NotIn (missing key included), Exists and DoesNotExist decide', () => {
    const w: World = {
      ...world,
      pods: world.pods.map((p) => (p.service === 'c' ? { ...p, labels: { ...p.labels, tier: 'db' } } : p)),
    };
    const mk = (operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist') => [
      policy('x', 'expr', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              {
                podSelector: {
                  matchExpressions: [
                    { key: 'tier', operator, ...(operator.endsWith('In') && { values: ['db'] }) },
                  ],
                },
              },
            ],
          },
        ],
      }),
    ];
    assert.deepEqual(
      ['x/b', 'x/c'].map((s) => allowed(mk('In'), s, 'x/a', 80, 'TCP', w)),
      [false, true],
    );
    assert.deepEqual(
      ['x/b', 'x/c'].map((s) => allowed(mk('NotIn'), s, 'x/a', 80, 'TCP', w)),
      [true, false],
    );
    assert.deepEqual(
      ['x/b', 'x/c'].map((s) => allowed(mk('Exists'), s, 'x/a', 80, 'TCP', w)),
      [false, true],
    );
    assert.deepEqual(
      ['x/b', 'x/c'].map((s) => allowed(mk('DoesNotExist'), s, 'x/a', 80, 'TCP', w)),
      [true, false],
    );
  });
});

describe('evaluate: ports', () => {
  const only = (ports: NetworkPolicy['spec']['ingress']) => [
    policy('x', 'p', { podSelector: {}, ingress: ports }),
  ];

  it('GIVEN a numeric port without protocol THEN it means TCP: UDP on that port stays closed', () => {
    const policies = only([{ ports: [{ port: 80 }] }]);
    assert.equal(allowed(policies, 'y/a', 'x/a', 80, 'TCP'), true);
    assert.equal(allowed(policies, 'y/a', 'x/a', 80, 'UDP'), false);
    assert.equal(allowed(policies, 'y/a', 'x/a', 81, 'TCP'), false);
  });

  it('GIVEN a UDP rule THEN it does not open TCP on the same port', () => {
    const policies = only([{ ports: [{ protocol: 'UDP', port: 53 }] }]);
    assert.equal(allowed(policies, 'y/a', 'x/a', 53, 'UDP'), true);
    assert.equal(allowed(policies, 'y/a', 'x/a', 53, 'TCP'), false);
  });

  it('GIVEN a protocol without port THEN every port of that protocol', () => {
    const policies = only([{ ports: [{ protocol: 'UDP' }] }]);
    assert.equal(allowed(policies, 'y/a', 'x/a', 9999, 'UDP'), true);
    assert.equal(allowed(policies, 'y/a', 'x/a', 80, 'TCP'), false);
  });

  it('GIVEN endPort THEN the range port..endPort is open, inclusive, and nothing around it', () => {
    const policies = only([{ ports: [{ protocol: 'TCP', port: 81, endPort: 82 }] }]);
    assert.deepEqual(
      [80, 81, 82, 83].map((p) => allowed(policies, 'y/a', 'x/a', p)),
      [false, true, true, false],
    );
  });

  it('GIVEN a named ingress port THEN it resolves on the destination pod, by name and protocol', () => {
    const policies = only([{ ports: [{ protocol: 'TCP', port: 'alt' }] }]);
    assert.deepEqual(
      [80, 81].map((p) => allowed(policies, 'y/a', 'x/a', p)),
      [false, true],
    );
    assert.equal(
      allowed(only([{ ports: [{ protocol: 'UDP', port: 'alt' }] }]), 'y/a', 'x/a', 81, 'UDP'),
      false,
    );
  });

  it('GIVEN a named egress port THEN it resolves on the DESTINATION pod, and matches nothing outside pods', () => {
    const w: World = {
      ...world,
      pods: world.pods.map((p) =>
        p.namespace === 'y' && p.service === 'b'
          ? { ...p, ports: [{ name: 'alt', port: 8081, protocol: 'TCP' as const }] }
          : p,
      ),
    };
    const policies = [
      policy('x', 'out', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ ports: [{ protocol: 'TCP', port: 'alt' }] }],
      }),
    ];
    assert.equal(allowed(policies, 'x/a', 'y/b', 8081, 'TCP', w), true);
    assert.equal(allowed(policies, 'x/a', 'y/b', 81, 'TCP', w), false);
    assert.equal(allowed(policies, 'x/a', 'y/a', 81, 'TCP', w), true);
    assert.equal(allowed(policies, 'x/a', OUTSIDE, 81, 'TCP', w), false);
  });
});

describe('evaluate: policy types and additivity', () => {
  it('GIVEN no policyTypes THEN Ingress, plus Egress only when there are egress rules (API server defaulting)', () => {
    const egressOnly = policy('x', 'e', { podSelector: {}, egress: [{ to: [{ podSelector: {} }] }] });
    assert.deepEqual(policyTypesOf(egressOnly), ['Ingress', 'Egress']);
    assert.deepEqual(policyTypesOf(policy('x', 'e', { podSelector: {}, egress: [] })), ['Ingress']);
    assert.deepEqual(policyTypesOf(policy('x', 'e', { podSelector: {}, policyTypes: [], egress: [{}] })), [
      'Ingress',
      'Egress',
    ]);
    // egressOnly isolates ingress too: nothing may reach x now.
    assert.equal(allowed([egressOnly], 'y/a', 'x/a'), false);
    assert.equal(allowed([egressOnly], 'x/a', 'x/b'), false, 'x/b is ingress-isolated by the same policy');
  });

  it('GIVEN policyTypes [Egress] with ingress rules THEN the ingress rules are ignored and ingress is open', () => {
    const p = policy('x', 'e', {
      podSelector: {},
      policyTypes: ['Egress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'zzz' } } }] }],
    });
    assert.equal(allowed([p], 'y/a', 'x/a'), true);
    assert.equal(allowed([p], 'x/a', 'y/a'), false);
  });

  it('GIVEN two policies selecting one pod THEN their rules add up and both are named', () => {
    const a = policy('x', 'from-a', {
      podSelector: { matchLabels: { pod: 'c' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }] }],
    });
    const b = policy('x', 'from-b', {
      podSelector: { matchLabels: { pod: 'c' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
    });
    const all = policy('x', 'from-x', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] });
    assert.equal(allowed([a], 'x/b', 'x/c'), false);
    assert.equal(allowed([a, b], 'x/b', 'x/c'), true);
    const v = evaluate(flow('x/a', 'x/c'), world, [a, b, all]);
    assert.deepEqual(v.ingress.selectingPolicies, ['x/from-a', 'x/from-b', 'x/from-x']);
    assert.deepEqual(v.ingress.allowedBy, ['x/from-a ingress[0]', 'x/from-x ingress[0]']);
  });

  it('GIVEN both sides isolated THEN egress AND ingress must allow, and the reason names both rules', () => {
    const policies = [
      denyEgress('x'),
      denyIngress('y'),
      policy('x', 'to-y', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    ];
    assert.equal(allowed(policies, 'x/a', 'y/a'), false, 'y refuses');
    const fromX = policy('y', 'from-x', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }] }],
    });
    const v = evaluate(flow('x/a', 'y/a'), world, [...policies, fromX]);
    assert.equal(v.allowed, true);
    assert.equal(v.reason, 'allowed by x/to-y egress[0], y/from-x ingress[0]');
  });
});

describe('evaluate: Kubernetes documentation examples', () => {
  // https://kubernetes.io/docs/concepts/services-networking/network-policies/ (addresses moved to 198.18.0.0/15)
  const docWorld: World = {
    namespaces: [
      { name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } },
      { name: 'myproject', labels: { project: 'myproject', 'kubernetes.io/metadata.name': 'myproject' } },
    ],
    pods: [
      {
        namespace: 'default',
        service: 'db',
        name: 'db-0',
        labels: { role: 'db' },
        ips: ['198.18.16.2'],
        ports: [],
      },
      {
        namespace: 'default',
        service: 'frontend',
        name: 'frontend-0',
        labels: { role: 'frontend' },
        ips: ['198.18.16.3'],
        ports: [],
      },
      {
        namespace: 'default',
        service: 'other',
        name: 'other-0',
        labels: { role: 'other' },
        ips: ['198.18.16.4'],
        ports: [],
      },
      { namespace: 'myproject', service: 'any', name: 'any-0', labels: {}, ips: ['198.18.16.5'], ports: [] },
    ],
  };
  const testNetworkPolicy = policy('default', 'test-network-policy', {
    podSelector: { matchLabels: { role: 'db' } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [
      {
        from: [
          { ipBlock: { cidr: '198.19.0.0/16', except: ['198.19.1.0/24'] } },
          { namespaceSelector: { matchLabels: { project: 'myproject' } } },
          { podSelector: { matchLabels: { role: 'frontend' } } },
        ],
        ports: [{ protocol: 'TCP', port: 6379 }],
      },
    ],
    egress: [{ to: [{ ipBlock: { cidr: '198.18.32.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
  });
  const check = (src: string, dst: string, port: number) =>
    evaluate({ srcIp: src, dstIp: dst, protocol: 'TCP', dstPort: port, time: 0 }, docWorld, [
      testNetworkPolicy,
    ]).allowed;

  it('GIVEN test-network-policy THEN db accepts 6379 from frontend, myproject and the ipBlock minus except only', () => {
    assert.equal(check('198.18.16.3', '198.18.16.2', 6379), true, 'frontend');
    assert.equal(check('198.18.16.5', '198.18.16.2', 6379), true, 'myproject');
    assert.equal(check('198.19.2.9', '198.18.16.2', 6379), true, 'ipBlock');
    assert.equal(check('198.19.1.9', '198.18.16.2', 6379), false, 'except');
    assert.equal(check('198.18.16.4', '198.18.16.2', 6379), false, 'other pod');
    assert.equal(check('198.18.16.3', '198.18.16.2', 6380), false, 'other port');
  });

  it('GIVEN test-network-policy THEN db may only send to 198.18.32.0/24:5978, and other pods are unaffected', () => {
    assert.equal(check('198.18.16.2', '198.18.32.7', 5978), true);
    assert.equal(check('198.18.16.2', '198.18.32.7', 5979), false);
    assert.equal(check('198.18.16.2', '198.18.16.3', 80), false);
    assert.equal(check('198.18.16.3', '198.18.16.4', 80), true);
  });

  it('GIVEN the endPort example (egress to 198.18.32.0/24 TCP 32000-32768) THEN the range is open', () => {
    const p = policy('default', 'multi-port-egress', {
      podSelector: { matchLabels: { role: 'db' } },
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ ipBlock: { cidr: '198.18.32.0/24' } }],
          ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }],
        },
      ],
    });
    const at = (port: number) =>
      evaluate(
        { srcIp: '198.18.16.2', dstIp: '198.18.32.1', protocol: 'TCP', dstPort: port, time: 0 },
        docWorld,
        [p],
      ).allowed;
    assert.deepEqual([31999, 32000, 32768, 32769].map(at), [false, true, true, false]);
  });
});

describe('evaluate: helpers', () => {
  it('GIVEN an ipBlock with nested excepts THEN its ranges are the cidr minus them', () => {
    const r = ipBlockRanges({ cidr: '198.18.0.0/24', except: ['198.18.0.0/26', '198.18.0.128/25'] });
    assert.deepEqual(
      r.map(([a, b]) => `${intToIpv4(a)}-${intToIpv4(b)}`),
      ['198.18.0.64-198.18.0.127'],
    );
  });

  it('GIVEN createEvaluator THEN it answers like evaluate for many flows', () => {
    const policies = [denyIngress('x')];
    const ev = createEvaluator(world, policies);
    for (const src of ['x/a', 'y/b'] as const)
      for (const dst of ['x/b', 'y/c'] as const) {
        assert.deepEqual(ev(flow(src, dst)), evaluate(flow(src, dst), world, policies));
      }
  });
});
