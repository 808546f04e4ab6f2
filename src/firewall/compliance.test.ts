import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertPolicyChange,
  checkPolicyChange,
  complianceReport,
  declaredFlows,
  formatPath,
  renderComplianceMarkdown,
  type ComplianceInput,
  type DataDeclaration,
} from './compliance.ts';
import { flow } from './fixtures/shop.ts';
import { addressBook, resolveFlow } from './flows.ts';
import { aggregateFlows } from './learn.ts';
import { proposePolicies } from './propose.ts';
import type { World, WorldPod } from './types.ts';
import { NAMESPACE_NAME_LABEL, SERVICE_LABEL } from './world.ts';

// A slice of examples/fraud/rampart.yaml: app subnet 198.18.0.0/21, db subnet 198.18.8.0/22.
const SUBNETS = ['198.18.0.0/21', '198.18.8.0/22'];
const pod = (service: string, ips: string[], port = 8080): WorldPod => ({
  namespace: 'fraud',
  service,
  name: `${service}-0`,
  labels: { [SERVICE_LABEL]: service },
  ips,
  ports: [{ name: service === 'frauddb' ? 'postgres' : 'http', port, protocol: 'TCP' }],
});
const world: World = {
  namespaces: [{ name: 'fraud', labels: { [NAMESPACE_NAME_LABEL]: 'fraud' } }],
  pods: [
    pod('gateway', ['198.18.0.2']),
    pod('geo', ['198.18.0.3']),
    pod('velocity', ['198.18.0.4', '198.18.8.2']),
    pod('credit', ['198.18.0.5', '198.18.8.3']),
    pod('frauddb', ['198.18.8.4'], 5432),
  ],
};
const fraudData: DataDeclaration[] = [
  {
    namespace: 'fraud',
    service: 'gateway',
    reads: ['order', 'pii', 'device-behavior', 'risk-signals', 'credit-decision'],
    emits: ['assessment'],
  },
  { namespace: 'fraud', service: 'geo', reads: ['pii', 'device-behavior'], emits: ['risk-signals'] },
  {
    namespace: 'fraud',
    service: 'velocity',
    reads: ['order', 'pii', 'device-behavior'],
    emits: ['risk-signals'],
  },
  {
    namespace: 'fraud',
    service: 'credit',
    reads: ['pii', 'order', 'credit-bureau'],
    emits: ['credit-decision'],
  },
];
const rules = [
  {
    forbid: ['credit-bureau', 'device-behavior'] as [string, string],
    reason: 'no bureau data with device data',
  },
];

/** Policies learned from gateway calling every signal, and the signals using the database. */
function learnedPolicies(extra: [string, string][] = []) {
  const book = addressBook(world);
  const flows = [
    flow('198.18.0.2', '198.18.0.3', 8080),
    flow('198.18.0.2', '198.18.0.4', 8080),
    flow('198.18.0.2', '198.18.0.5', 8080),
    flow('198.18.8.2', '198.18.8.4', 5432),
    flow('198.18.8.3', '198.18.8.4', 5432),
    ...extra.map(([src, dst]) => flow(src, dst, 8080)),
  ];
  return proposePolicies(world, aggregateFlows(flows.map((f) => resolveFlow(book, f))));
}

const input = (over: Partial<ComplianceInput> = {}): ComplianceInput => ({
  world,
  policies: learnedPolicies(),
  data: fraudData,
  rules,
  subnets: SUBNETS,
  ...over,
});

describe('complianceReport', () => {
  it('GIVEN the fraud declarations and the learned policies THEN the rule holds, and credit holds only what it declares plus the gateway’s assessment', () => {
    const r = complianceReport(input());
    assert.deepEqual(r.violations, []);
    const credit = r.services.find((s) => s.service === 'fraud/credit')!;
    assert.deepEqual(
      credit.classes.map((c) => c.class),
      ['assessment', 'credit-bureau', 'credit-decision', 'order', 'pii'],
    );
    assert.equal(
      formatPath(credit.classes[0]!),
      'fraud/gateway -> fraud/credit (request to TCP/8080 http; allowed by fraud/gateway egress[0], fraud/credit ingress[0])',
    );
    // The database is no data relay: velocity and credit both use it, nothing crosses.
    assert.ok(!r.connections.some((c) => c.server === 'fraud/frauddb'));
  });

  it('GIVEN velocity passes device data on WHEN a change lets credit call velocity THEN it is refused with the path', () => {
    const data = fraudData.map((d) =>
      d.service === 'velocity' ? { ...d, emits: ['risk-signals', 'device-behavior'] } : d,
    );
    const before = input({ data });
    assert.deepEqual(complianceReport(before).violations, []);
    const after = input({ data, policies: learnedPolicies([['198.18.0.5', '198.18.0.4']]) });
    const check = checkPolicyChange(before, after);
    assert.equal(check.allowed, false);
    assert.deepEqual(
      check.introduced.map((v) => v.service),
      ['fraud/credit'],
    );
    assert.equal(
      check.message,
      [
        'refused: credit-bureau and device-behavior meet in fraud/credit (no bureau data with device data)',
        '  credit-bureau: declared by fraud/credit',
        '  device-behavior: fraud/velocity -> fraud/credit (response from TCP/8080 http; allowed by fraud/credit egress[1], fraud/velocity ingress[0])',
      ].join('\n'),
    );
    assert.throws(
      () => assertPolicyChange(before, after),
      (e: Error & { code?: string; details?: { violations?: unknown[] } }) =>
        e.code === 'RAMPART_E_DATA_RULE' && e.details?.violations?.length === 1,
    );
    assert.equal(checkPolicyChange(before, before).allowed, true);
  });

  it('GIVEN no policy at all (learn mode) THEN every pair sharing a network connects, and the rule breaks', () => {
    const data = fraudData.map((d) =>
      d.service === 'velocity' ? { ...d, emits: ['risk-signals', 'device-behavior'] } : d,
    );
    const r = complianceReport(input({ data, policies: [] }));
    assert.deepEqual(
      r.violations.map((v) => v.service),
      ['fraud/credit'],
    );
    assert.equal(r.connections.length, 12); // 4 services, every ordered pair, all on the app network
  });

  it('GIVEN the stack’s intent (declared flows) with no policy THEN only declared flows connect: credit -> velocity declared breaks the rule, undeclared it does not', () => {
    const data = fraudData.map((d) =>
      d.service === 'velocity' ? { ...d, emits: ['risk-signals', 'device-behavior'] } : d,
    );
    const gatewayCalls: [string, string][] = ['geo', 'velocity', 'credit'].map((s) => [
      'fraud/gateway',
      `fraud/${s}`,
    ]);
    const ok = complianceReport(input({ data, policies: [], declared: gatewayCalls }));
    assert.deepEqual(ok.violations, []);
    assert.deepEqual(
      ok.connections.map((c) => `${c.client}>${c.server} ${c.allowedBy}`),
      gatewayCalls.map(([c, s]) => `${c}>${s} declared: ${c} dependsOn ${s}`).sort(),
    );
    const bad = complianceReport(
      input({ data, policies: [], declared: [...gatewayCalls, ['fraud/credit', 'fraud/velocity']] }),
    );
    assert.deepEqual(
      bad.violations.map((v) => `${v.service}: ${formatPath(v.evidence[1])}`),
      [
        'fraud/credit: fraud/velocity -> fraud/credit (response from TCP/8080 http; declared: fraud/credit dependsOn fraud/velocity)',
      ],
    );
  });

  it('GIVEN the stack’s intent and policies THEN a connection a policy allows counts even undeclared, one it denies does not even declared', () => {
    const data = fraudData.map((d) =>
      d.service === 'velocity' ? { ...d, emits: ['risk-signals', 'device-behavior'] } : d,
    );
    const policies = learnedPolicies([['198.18.0.5', '198.18.0.4']]);
    assert.deepEqual(
      complianceReport(input({ data, policies, declared: [] })).violations.map((v) => v.service),
      ['fraud/credit'],
    );
    const denied = complianceReport(
      input({ data, policies: learnedPolicies(), declared: [['fraud/credit', 'fraud/velocity']] }),
    );
    assert.deepEqual(denied.violations, []);
  });

  it('GIVEN dependsOn THEN declaredFlows names client -> server ids, same namespace first, databases left out', () => {
    const svc = (name: string, namespace: string, dependsOn: string[]) => ({ name, namespace, dependsOn });
    const stack = {
      services: [
        svc('web', 'shop', ['api', 'maindb']),
        svc('api', 'shop', []),
        svc('api', 'other', []),
        svc('job', 'batch', ['api']),
      ],
    } as unknown as Parameters<typeof declaredFlows>[0];
    assert.deepEqual(declaredFlows(stack), [
      ['shop/web', 'shop/api'],
      ['batch/job', 'shop/api'],
      ['batch/job', 'other/api'],
    ]);
  });

  it('GIVEN forwarding "held" THEN classes travel transitively: a -> b -> c, each hop with its rule', () => {
    const w: World = {
      namespaces: world.namespaces,
      pods: [pod('a', ['198.18.0.2']), pod('b', ['198.18.0.3']), pod('c', ['198.18.0.4'])],
    };
    const book = addressBook(w);
    const policies = proposePolicies(
      w,
      aggregateFlows(
        [flow('198.18.0.2', '198.18.0.3', 8080), flow('198.18.0.3', '198.18.0.4', 8080)].map((f) =>
          resolveFlow(book, f),
        ),
      ),
    );
    const data: DataDeclaration[] = [
      { namespace: 'fraud', service: 'a', reads: ['x'], emits: [] },
      { namespace: 'fraud', service: 'b', reads: [], emits: [] },
      { namespace: 'fraud', service: 'c', reads: ['y'], emits: [] },
    ];
    const forbidXY = [{ forbid: ['x', 'y'] as [string, string] }];
    assert.deepEqual(complianceReport({ world: w, policies, data, rules: forbidXY }).violations, []);
    const r = complianceReport({ world: w, policies, data, rules: forbidXY, forwarding: 'held' });
    // b holds x (a's request) and y (c's response); c gets x through b; a gets y back through b.
    assert.deepEqual(
      r.violations.map((v) => v.service),
      ['fraud/a', 'fraud/b', 'fraud/c'],
    );
    const x = r.violations[2]!.evidence[0];
    assert.deepEqual(
      x.path.map((h) => `${h.from}>${h.to} ${h.carries}`),
      ['fraud/a>fraud/b request', 'fraud/b>fraud/c request'],
    );
  });

  it('GIVEN a report THEN the Markdown names the model, the rule status, violations with paths and every service', () => {
    const data = fraudData.map((d) =>
      d.service === 'velocity' ? { ...d, emits: ['risk-signals', 'device-behavior'] } : d,
    );
    const md = renderComplianceMarkdown(
      complianceReport(input({ data, policies: learnedPolicies([['198.18.0.5', '198.18.0.4']]) })),
    );
    assert.match(md, /^# Data-protection report\n\nClasses travel over the connections the policies allow/);
    assert.match(
      md,
      /\n- \*\*credit-bureau\*\* never with \*\*device-behavior\*\*: no bureau data with device data — VIOLATED in fraud\/credit\n/,
    );
    assert.match(
      md,
      /\n### credit-bureau and device-behavior meet in fraud\/credit\n\n- credit-bureau: declared by fraud\/credit\n- device-behavior: fraud\/velocity -> fraud\/credit \(response/,
    );
    assert.match(
      md,
      /\n### fraud\/geo\n\nReads: pii, device-behavior\. Emits: risk-signals\.\n\n\| class \| how it reaches the service \|\n\| --- \| --- \|\n\| assessment \| fraud\/gateway -> fraud\/geo/,
    );
    assert.doesNotThrow(() => JSON.stringify(complianceReport(input())));
  });
});
