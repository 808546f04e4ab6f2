import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  FirewallCompiler,
  compileFirewall,
  disjoint,
  planFirewall,
  revisionOf,
  type FirewallPlan,
  type RangeElement,
} from './compile.ts';
import { parseCompiledTable } from './apply.ts';
import { createEvaluator, ipv4ToInt } from './evaluate.ts';
import { GOLDEN_CASES, MODEL_FIXTURE, goldenPath } from './golden/cases.ts';
import { modelWorld, policy, MODEL_POD_IDS } from './golden/model.ts';
import type { FirewallModes } from './modes.ts';
import type {
  Flow,
  LabelSelector,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Protocol,
  World,
} from './types.ts';

/**
 * What the compiled ruleset does with the first packet of a flow, read off the plan exactly as the
 * chains in compile.ts read the sets (forward/input -> check -> egress/ingress). `denied` lists the
 * sides whose lookups all missed.
 */
function kernel(plan: FirewallPlan, flow: Flow): { allowed: boolean; denied: ('egress' | 'ingress')[] } {
  const { srcIp: s, dstIp: d, dstPort: port } = flow;
  const proto = { TCP: 6, UDP: 17, SCTP: 132 }[flow.protocol];
  const pods = new Set(plan.pods);
  if (!pods.has(s) && !pods.has(d)) return { allowed: true, denied: [] };
  if (plan.samePod.some(([a, b]) => a === s && b === d)) return { allowed: true, denied: [] };
  const inRange = (r: RangeElement) => {
    const [src, dst] = [ipv4ToInt(s), ipv4ToInt(d)];
    return (
      src >= r.src[0] &&
      src <= r.src[1] &&
      dst >= r.dst[0] &&
      dst <= r.dst[1] &&
      proto >= r.proto[0] &&
      proto <= r.proto[1] &&
      port >= r.port[0] &&
      port <= r.port[1]
    );
  };
  const passes = (side: FirewallPlan['egress']) =>
    side.pairs.some(([a, b]) => a === s && b === d) ||
    side.ports.some((p) => p.src === s && p.dst === d && p.proto === proto && p.port === port) ||
    side.ranges.some(inRange);
  const denied: ('egress' | 'ingress')[] = [];
  if (plan.egress.isolated.includes(s) && !passes(plan.egress)) denied.push('egress');
  if (plan.ingress.isolated.includes(d) && !passes(plan.ingress)) denied.push('ingress');
  return { allowed: denied.length === 0, denied };
}

/** Concatenated interval sets refuse overlapping elements: no two boxes may share a point. */
function assertDisjoint(ranges: readonly RangeElement[]): void {
  const overlap = (a: readonly [number, number], b: readonly [number, number]) =>
    a[0] <= b[1] && b[0] <= a[1];
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const [a, b] = [ranges[i]!, ranges[j]!];
      const all =
        overlap(a.src, b.src) &&
        overlap(a.dst, b.dst) &&
        overlap(a.proto, b.proto) &&
        overlap(a.port, b.port);
      assert.ok(!all, `overlapping interval elements ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
    }
  }
}

/** A small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPolicies(random: () => number, count: number): NetworkPolicy[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const selector = (): LabelSelector =>
    pick<LabelSelector>([
      {},
      { matchLabels: { pod: pick(['a', 'b', 'c']) } },
      { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: [pick(['a', 'b'])] }] },
      { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'c'] }] },
    ]);
  const nsSelector = (): LabelSelector =>
    pick<LabelSelector>([{}, { matchLabels: { ns: pick(['x', 'y']) } }]);
  const peer = (): NetworkPolicyPeer =>
    pick<() => NetworkPolicyPeer>([
      () => ({ podSelector: selector() }),
      () => ({ namespaceSelector: nsSelector() }),
      () => ({ podSelector: selector(), namespaceSelector: nsSelector() }),
      () => ({ ipBlock: { cidr: '198.18.16.0/28', except: [pick(['198.18.16.12/30', '198.18.16.10/32'])] } }),
      () => ({ ipBlock: { cidr: pick(['0.0.0.0/0', '198.18.16.8/29', '198.19.0.0/16']) } }),
    ])();
  const port = (): NetworkPolicyPort =>
    pick<NetworkPolicyPort>([
      { protocol: 'TCP', port: 80 },
      { protocol: 'TCP', port: 81, endPort: 83 },
      { protocol: 'UDP', port: 53 },
      { protocol: 'UDP' },
      { protocol: 'TCP', port: 'alt' },
      { protocol: 'UDP', port: 'dns' },
      { port: 80 },
    ]);
  const list = <T>(make: () => T, max: number): T[] | undefined => {
    const n = Math.floor(random() * (max + 2)) - 1;
    return n < 0 ? undefined : Array.from({ length: n }, make);
  };
  const rules = () => list(() => ({ peers: list(peer, 2), ports: list(port, 2) }), 2);
  return Array.from({ length: count }, (_, i) => {
    const ingress = rules();
    const egress = rules();
    return policy(pick(['x', 'y']), `p${i}`, {
      podSelector: selector(),
      ...(random() < 0.5 && {
        policyTypes: pick<('Ingress' | 'Egress')[]>([['Ingress'], ['Egress'], ['Ingress', 'Egress']]),
      }),
      ...(ingress && {
        ingress: ingress.map((r) => ({
          ...(r.peers && { from: r.peers }),
          ...(r.ports && { ports: r.ports }),
        })),
      }),
      ...(egress && {
        egress: egress.map((r) => ({ ...(r.peers && { to: r.peers }), ...(r.ports && { ports: r.ports }) })),
      }),
    });
  });
}

const MODES: FirewallModes = { global: 'protect', perService: {} };

describe('compileFirewall', () => {
  for (const [name, input] of Object.entries(GOLDEN_CASES)) {
    it(`GIVEN the ${name} fixture WHEN compiling THEN the output equals golden/${name}.nft`, () => {
      const actual = compileFirewall(input);
      // RAMPART_UPDATE_GOLDEN=1 rewrites the files; review the diff before committing it.
      if (process.env.RAMPART_UPDATE_GOLDEN === '1') writeFileSync(goldenPath(name), actual);
      assert.equal(actual, readFileSync(goldenPath(name), 'utf8'));
    });
  }

  it('GIVEN one FirewallCompiler reused across random policy sets, a one-policy change and a new world THEN each output equals compileFirewall’s', () => {
    const compiler = new FirewallCompiler();
    const random = rng(7);
    let world = modelWorld();
    let previous = randomPolicies(random, 3);
    for (let round = 0; round < 60; round++) {
      // Mostly one policy changed or added, sometimes a fresh set, once in a while another world.
      const policies =
        round % 7 === 0
          ? randomPolicies(random, 1 + Math.floor(random() * 4))
          : [...previous.slice(1), ...randomPolicies(random, 1)];
      if (round % 20 === 10) world = modelWorld((id) => `198.18.17.${10 + MODEL_POD_IDS.indexOf(id)}`);
      const input = { env: 't', world, policies, modes: MODES };
      assert.equal(compiler.compile(input), compileFirewall(input), `round ${round}`);
      previous = policies;
    }
    for (const [name, input] of Object.entries(GOLDEN_CASES))
      assert.equal(compiler.compile(input), readFileSync(goldenPath(name), 'utf8'), name);
  });

  it('GIVEN FirewallCompiler.update over random policy and mode changes THEN each delta turns the previous text’s elements into the next one’s', () => {
    const compiler = new FirewallCompiler();
    const random = rng(11);
    const world = modelWorld();
    let policies = randomPolicies(random, 4);
    let modes: FirewallModes = MODES;
    let previous = compiler.update({ env: 't', world, policies, modes });
    assert.equal(previous.delta, undefined, 'a first compile has nothing to start from');
    const elements = (text: string) =>
      new Map(parseCompiledTable(text).blocks.map((b) => [b.name, new Set(b.items)]));
    let nonEmpty = 0;
    for (let round = 0; round < 80; round++) {
      // One policy replaced, added or removed (same objects for the others, as the daemon keeps
      // them), or a mode changed.
      const r = random();
      if (r < 0.15)
        modes = { global: random() < 0.5 ? 'monitor' : 'protect', perService: { 'x/a': 'learn' } };
      else if (r < 0.3 && policies.length > 1) policies = policies.slice(1);
      else {
        const i = Math.floor(random() * (policies.length + 1));
        const [fresh] = randomPolicies(random, 1);
        policies = [
          ...policies.slice(0, i),
          { ...fresh!, metadata: { ...fresh!.metadata, name: `q${round}` } },
          ...policies.slice(i + 1),
        ];
      }
      const input = { env: 't', world, policies, modes };
      const next = compiler.update(input);
      assert.equal(next.text, compileFirewall(input), `round ${round}: text`);
      assert.equal(next.revision, revisionOf(next.text));
      const delta = next.delta!;
      assert.equal(delta.previousRevision, previous.revision, `round ${round}`);
      assert.equal(delta.revision, next.revision, `round ${round}`);
      const sets = elements(previous.text);
      for (const c of delta.changes) {
        const set = sets.get(c.name)!;
        for (const e of c.removed) assert.ok(set.delete(e), `round ${round}: ${c.name} had ${e}`);
        for (const e of c.added) {
          assert.ok(!set.has(e), `round ${round}: ${c.name} already had ${e}`);
          set.add(e);
        }
      }
      assert.deepEqual(sets, elements(next.text), `round ${round}: elements after the delta`);
      if (delta.changes.length > 0) nonEmpty++;
      previous = next;
    }
    assert.ok(nonEmpty > 40, `${nonEmpty} rounds changed something`);
  });

  it('GIVEN 300 random policy sets on the x/y model THEN the ruleset agrees with evaluate() on every flow', () => {
    const world = modelWorld();
    const random = rng(20240607);
    const addresses = [
      ...world.pods.map((p) => p.ips[0]!),
      '198.18.16.1',
      '198.18.16.200',
      '198.19.3.4',
      '10.1.2.3',
    ];
    const ports: [Protocol, number][] = [
      ['TCP', 80],
      ['TCP', 81],
      ['TCP', 82],
      ['TCP', 83],
      ['TCP', 443],
      ['UDP', 53],
      ['UDP', 80],
      ['UDP', 9999],
    ];
    let checked = 0;
    for (let round = 0; round < 300; round++) {
      const policies = randomPolicies(random, 1 + Math.floor(random() * 4));
      const plan = planFirewall({ env: 't', world, policies, modes: MODES });
      assertDisjoint(plan.egress.ranges);
      assertDisjoint(plan.ingress.ranges);
      const evaluate = createEvaluator(world, policies);
      for (const srcIp of addresses) {
        for (const dstIp of addresses) {
          for (const [protocol, dstPort] of ports) {
            const flow = { srcIp, dstIp, protocol, dstPort, time: 0 };
            const expected = evaluate(flow);
            const actual = kernel(plan, flow);
            checked++;
            if (actual.allowed !== expected.allowed) {
              assert.fail(
                `round ${round}: ${JSON.stringify(flow)} kernel ${JSON.stringify(actual)} vs evaluate ${expected.reason}\n${JSON.stringify(policies, null, 1)}`,
              );
            }
          }
        }
      }
    }
    assert.ok(checked > 100_000);
  });

  it('GIVEN per-service modes THEN every pod address maps to its mode’s chain', () => {
    const plan = planFirewall(MODEL_FIXTURE);
    const byPod = Object.fromEntries(plan.modes);
    assert.equal(byPod['198.18.16.10'], 'protect');
    assert.equal(byPod['198.18.16.12'], 'monitor', 'x/c');
    assert.equal(byPod['198.18.16.15'], 'learn', 'y/c');
    assert.match(compileFirewall(MODEL_FIXTURE), /198\.18\.16\.12 : jump denied_monitor/);
  });

  it('GIVEN a rule without ports to a pod THEN it is one exact pair, and port entries it covers are dropped', () => {
    const world = modelWorld();
    const plan = planFirewall({
      env: 't',
      world,
      modes: MODES,
      policies: [
        policy('x', 'p', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [
            { from: [{ podSelector: { matchLabels: { pod: 'b' } } }] },
            { from: [{ podSelector: {} }], ports: [{ port: 80 }] },
          ],
        }),
      ],
    });
    assert.deepEqual(plan.ingress.pairs, [['198.18.16.11', '198.18.16.10']]);
    assert.deepEqual(
      plan.ingress.ports.map((p) => `${p.src}>${p.dst}:${p.proto}/${p.port}`),
      ['198.18.16.10>198.18.16.10:6/80', '198.18.16.12>198.18.16.10:6/80'],
    );
  });

  it('GIVEN overlapping boxes THEN disjoint() returns their union without overlaps, merged where it can', () => {
    const boxes = disjoint([
      { peer: [0, 255], proto: [6, 6], port: [80, 90] },
      { peer: [16, 31], proto: [6, 6], port: [85, 100] },
      { peer: [16, 31], proto: [0, 255], port: [0, 65535] },
      { peer: [300, 300], proto: [17, 17], port: [53, 53] },
    ]);
    assert.deepEqual(boxes, [
      { peer: [0, 15], proto: [6, 6], port: [80, 90] },
      { peer: [16, 31], proto: [0, 255], port: [0, 65535] },
      { peer: [32, 255], proto: [6, 6], port: [80, 90] },
      { peer: [300, 300], proto: [17, 17], port: [53, 53] },
    ]);
  });

  it('GIVEN 10,000 allowed pairs THEN they compile into the hash sets in well under a second', () => {
    const world: World = {
      namespaces: [{ name: 'n', labels: { 'kubernetes.io/metadata.name': 'n' } }],
      pods: Array.from({ length: 200 }, (_, i) => ({
        namespace: 'n',
        service: `s${i}`,
        name: `s${i}-0`,
        labels: { app: `s${i}` },
        ips: [`198.18.${16 + (i >> 8)}.${(i % 250) + 2}`],
        ports: [],
      })),
    };
    const policies = world.pods.map((p, i) =>
      policy('n', `allow-${i}`, {
        podSelector: { matchLabels: { app: p.service } },
        ingress: Array.from({ length: 50 }, (_, j) => ({
          from: [{ podSelector: { matchLabels: { app: `s${(i + j + 1) % 200}` } } }],
          ports: [{ protocol: 'TCP' as const, port: 8000 + j }],
        })),
      }),
    );
    const plan = planFirewall({ env: 't', world, policies, modes: MODES });
    assert.equal(plan.ingress.ports.length, 10_000);
    assert.equal(plan.ingress.ranges.length, 0);
  });

  it('GIVEN the pods of the model THEN all of them are in @pods and each pod is its own same_pod pair', () => {
    const plan = planFirewall(MODEL_FIXTURE);
    assert.equal(plan.pods.length, MODEL_POD_IDS.length);
    assert.deepEqual(
      plan.samePod,
      plan.pods.map((ip) => [ip, ip]),
    );
  });
});
