import { createHash } from 'node:crypto';
import { bridgeName, nftTableName } from '../platform/names.ts';
import { OTLP_GATEWAY_PORT } from '../platform/ports.ts';
import {
  intToIpv4,
  ipBlockRanges,
  ipv4ToInt,
  peerSelectsPod,
  policyTypesOf,
  selectsPod,
  namespaceLabels,
  type Direction,
} from './evaluate.ts';
import { modeByAddress, type FirewallModes } from './modes.ts';
import type {
  FirewallMode,
  LabelSelector,
  NetworkPolicy,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  World,
  WorldPod,
} from './types.ts';

/**
 * NetworkPolicy compiled to the environment's firewall table `inet rampart_<env>`, pure. Packet
 * path (only packets of NEW connections, and of connections flagged as denied, reach the checks):
 *
 *   forward / input   ct state established,related accept (unless the connection is flagged denied)
 *                     pod on either end -> check            (input: pod -> the host's addresses)
 *   check             same pod on both ends -> accept
 *                     src @egress_isolated  -> egress:  @egress_pairs | @egress_ports | @egress_ranges
 *                     dst @ingress_isolated -> ingress: @ingress_pairs | @ingress_ports | @ingress_ranges
 *                     no match -> `<pod ip> vmap @mode` -> denied_learn | denied_monitor | denied_protect
 *
 * Every allowance is a set element, so a packet costs the same few lookups whatever the number of
 * rules: exact `src . dst` pairs (rules without ports) and exact `src . dst . proto . port` tuples
 * are hash sets; CIDRs and port ranges go to one interval set per direction whose elements are
 * made disjoint here (the kernel refuses overlapping intervals in a concatenated set).
 *
 * Modes act on the side whose policy denies: the source pod's mode for egress, the destination's
 * for ingress. `learn` lets it pass; `monitor` lets it pass and records it in the dynamic set
 * `@denied` (per-element packet/byte counters, 1 h timeout); `protect` records it and rejects it:
 * a TCP reset or ICMP admin-prohibited, so a blocked client fails at once instead of hanging in
 * retries (and one attempt is one packet in `@denied`). Connections let through while denied
 * (learn, monitor) carry a conntrack mark, so their packets keep being checked: switching the pod
 * to protect then cuts them instead of letting them live on as "established".
 */

export interface CompileFirewallInput {
  env: string;
  world: World;
  policies: readonly NetworkPolicy[];
  modes: FirewallModes;
}

/** Conntrack mark bit of connections that passed although denied (learn, monitor). */
export const DENIED_CT_MARK = 0x00400000;
/** How long an entry of `@denied` lives after its last packet. */
export const DENIED_TIMEOUT = '1h';
export const DENIED_SET_SIZE = 65536;
/** Sets whose elements the kernel writes; an in-place update keeps them (apply.ts). */
export const PRESERVED_SETS: readonly string[] = ['denied'];

const MAX_IP = 2 ** 32 - 1;
const PROTOCOL_NUMBER = { TCP: 6, UDP: 17, SCTP: 132 } as const;
const PROTOCOL_NAME: Readonly<Record<number, string>> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

type Range = readonly [number, number];
const ALL_PROTOCOLS: Range = [0, 255];
const ALL_PORTS: Range = [0, 65535];

/** An allowance in the interval set, one address side fixed to a pod's address. */
export interface RangeElement {
  src: Range;
  dst: Range;
  proto: Range;
  port: Range;
}

export interface DirectionPlan {
  /** Pod addresses isolated in this direction. */
  isolated: string[];
  /** `src . dst`: every protocol and port. */
  pairs: [string, string][];
  /** `src . dst . proto . port`, exact. */
  ports: { src: string; dst: string; proto: number; port: number }[];
  ranges: RangeElement[];
}

export interface FirewallPlan {
  table: string;
  /** The environment's bridges (`rp-<env>-app`, `rp-<env>-db`). */
  bridges: string[];
  pods: string[];
  samePod: [string, string][];
  egress: DirectionPlan;
  ingress: DirectionPlan;
  modes: [string, FirewallMode][];
}

/** One side's box before it is made disjoint: the peer range, protocols and ports. */
interface Box {
  peer: Range;
  proto: Range;
  port: Range;
}

/** Addresses parsed once: sorting and comparing 20,000 elements must not re-parse strings. */
class Addresses {
  readonly #ints = new Map<string, number>();
  int(ip: string): number {
    let n = this.#ints.get(ip);
    if (n === undefined) this.#ints.set(ip, (n = ipv4ToInt(ip)));
    return n;
  }
  readonly compare = (a: string, b: string): number => this.int(a) - this.int(b);
  readonly #singles = new Map<string, Range>();
  /** The one-address range of `ip`, shared. */
  single(ip: string): Range {
    let r = this.#singles.get(ip);
    if (r === undefined) this.#singles.set(ip, (r = [this.int(ip), this.int(ip)]));
    return r;
  }
}

/**
 * Which pods a selector peer admits, memoised by the peer's selectors and namespace: a 10,000-rule
 * policy names the same few hundred selectors over and over. matchLabels narrow the candidates
 * through a label index before the full match.
 */
class PeerPods {
  readonly #cache = new Map<string, WorldPod[]>();
  readonly #byLabel = new Map<string, WorldPod[]>();
  constructor(private readonly world: World) {
    for (const pod of world.pods) {
      for (const [k, v] of Object.entries(pod.labels)) {
        const key = `${k}=${v}`;
        const list = this.#byLabel.get(key);
        if (list) list.push(pod);
        else this.#byLabel.set(key, [pod]);
      }
    }
  }
  get(peer: NetworkPolicyPeer, namespace: string): WorldPod[] {
    const key = `${namespace}\u0000${selectorKey(peer.podSelector)}\u0000${selectorKey(peer.namespaceSelector)}`;
    let pods = this.#cache.get(key);
    if (pods === undefined) {
      let candidates: readonly WorldPod[] = this.world.pods;
      for (const [k, v] of Object.entries(peer.podSelector?.matchLabels ?? {})) {
        const list = this.#byLabel.get(`${k}=${v}`) ?? [];
        if (list.length < candidates.length) candidates = list;
      }
      const labels = (ns: string) => namespaceLabels(this.world, ns);
      pods = candidates.filter((p) => peerSelectsPod(peer, namespace, p, labels));
      this.#cache.set(key, pods);
    }
    return pods;
  }
}

/** A cache key for a selector; cheaper than JSON.stringify on the 10,000-rule path. */
function selectorKey(selector: LabelSelector | undefined): string {
  if (selector === undefined) return '-';
  let key = '';
  for (const k in selector.matchLabels) key += `${k}=${selector.matchLabels[k]},`;
  if (selector.matchExpressions?.length) key += JSON.stringify(selector.matchExpressions);
  return key;
}

/**
 * What one policy adds in one direction: its selected pods' addresses, exact pairs and tuples (by
 * key), and per selected address the boxes that go to the interval set. Policies add up, so the
 * plan is the union of these, and a compiler can keep them from one compile to the next.
 */
interface Contribution {
  isolated: string[];
  pairs: Map<string, [string, string]>;
  ports: Map<string, DirectionPlan['ports'][number]>;
  boxes: Map<string, Box[]>;
}

/** The parts of a compile that depend on the world only. */
interface WorldContext {
  world: World;
  addresses: Addresses;
  peerPods: PeerPods;
  /** Boxes of numeric ports, shared: a 10,000-rule policy repeats the same few ports. */
  boxes: Map<string, [Range, Range][]>;
}

const worldContext = (world: World): WorldContext => ({
  world,
  addresses: new Addresses(),
  peerPods: new PeerPods(world),
  boxes: new Map(),
});

/** What one set or map gains and loses between two compiled texts: element texts as in the ruleset. */
export interface SetChange {
  kind: 'set' | 'map';
  name: string;
  added: string[];
  removed: string[];
}

/**
 * The difference between two compiled texts of one table, element by element (apply.ts turns it
 * into a delta transaction). Only set and map elements: chains and declarations are equal.
 */
export interface FirewallDelta {
  /** revisionOf the text the delta starts from, and of the text it leads to. */
  previousRevision: string;
  revision: string;
  changes: SetChange[];
}

export interface CompiledFirewall {
  text: string;
  revision: string;
  /** From the previous output of the same compiler; absent after a new world or environment. */
  delta?: FirewallDelta;
}

/** A 32-bit fingerprint of the text: the marker element that says which text the kernel holds. */
export function revisionOf(text: string): string {
  return `0x${createHash('sha256').update(text).digest('hex').slice(0, 8)}`;
}

/** An element with the number of contributions that hold it, its text and its sort keys. */
interface Counted {
  count: number;
  text: string;
  k1: number;
  k2: number;
  k3: number;
  /** Ports: the `src dst` key of the pair that makes this tuple redundant. */
  pair?: string;
}

/** One direction's sets as reference counts over the contributions, kept from one compile to the next. */
class DirectionState {
  contributions: Contribution[] = [];
  readonly isolated = new Map<string, Counted>();
  readonly pairs = new Map<string, Counted>();
  readonly ports = new Map<string, Counted>();
  readonly portsByPair = new Map<string, Set<string>>();
  /** Per selected address: the contributions (with multiplicity) that put boxes on it. */
  readonly boxOwners = new Map<string, Map<Contribution, number>>();
  /** Per selected address: its interval elements, rendered. */
  readonly ranges = new Map<string, string[]>();
}

/** Element-level changes of one direction's four sets, after the counts moved. */
interface DirectionChanges {
  isolated: SetChange;
  pairs: SetChange;
  ports: SetChange;
  ranges: SetChange;
}

const byKeys = (a: Counted, b: Counted) => a.k1 - b.k1 || a.k2 - b.k2 || a.k3 - b.k3;

/**
 * Moves `state` from its contributions to `next`: only the contributions that changed are counted
 * in or out, and only the elements whose count crossed zero (or whose covering pair did) change.
 */
function updateDirection(
  state: DirectionState,
  direction: Direction,
  next: readonly Contribution[],
  addresses: Addresses,
): DirectionChanges {
  const by = new Map<Contribution, number>();
  for (const c of state.contributions) by.set(c, (by.get(c) ?? 0) - 1);
  for (const c of next) by.set(c, (by.get(c) ?? 0) + 1);
  state.contributions = [...next];
  const change = (name: string): SetChange => ({
    kind: 'set',
    name: `${direction}_${name}`,
    added: [],
    removed: [],
  });
  const out: DirectionChanges = {
    isolated: change('isolated'),
    pairs: change('pairs'),
    ports: change('ports'),
    ranges: change('ranges'),
  };
  // What each touched element was before (undefined: absent).
  const isolatedBefore = new Map<string, Counted | undefined>();
  const pairsBefore = new Map<string, Counted | undefined>();
  const portsBefore = new Map<string, Counted | undefined>();
  const bump = (
    map: Map<string, Counted>,
    before: Map<string, Counted | undefined>,
    key: string,
    n: number,
    make: () => Counted,
  ): Counted => {
    let e = map.get(key);
    if (!before.has(key)) before.set(key, e);
    if (e === undefined) map.set(key, (e = make()));
    e.count += n;
    if (e.count <= 0) map.delete(key);
    return e;
  };
  const int = (ip: string) => addresses.int(ip);
  const selves = new Set<string>();
  for (const [c, n] of by) {
    if (n === 0) continue;
    for (const ip of c.isolated)
      bump(state.isolated, isolatedBefore, ip, n, () => ({ count: 0, text: ip, k1: int(ip), k2: 0, k3: 0 }));
    for (const [key, pair] of c.pairs)
      bump(state.pairs, pairsBefore, key, n, () => ({
        count: 0,
        text: pairText(pair),
        k1: int(pair[0]),
        k2: int(pair[1]),
        k3: 0,
      }));
    for (const [key, p] of c.ports) {
      const pair = `${p.src} ${p.dst}`;
      const had = state.ports.has(key);
      bump(state.ports, portsBefore, key, n, () => ({
        count: 0,
        text: portElementText(p),
        k1: int(p.src),
        k2: int(p.dst),
        k3: p.proto * 65536 + p.port,
        pair,
      }));
      const has = state.ports.has(key);
      if (had !== has) {
        let keys = state.portsByPair.get(pair);
        if (!keys) state.portsByPair.set(pair, (keys = new Set()));
        if (has) keys.add(key);
        else {
          keys.delete(key);
          if (keys.size === 0) state.portsByPair.delete(pair);
        }
      }
    }
    for (const self of c.boxes.keys()) {
      let owners = state.boxOwners.get(self);
      if (!owners) state.boxOwners.set(self, (owners = new Map()));
      const k = (owners.get(c) ?? 0) + n;
      if (k > 0) owners.set(c, k);
      else owners.delete(c);
      if (owners.size === 0) state.boxOwners.delete(self);
      selves.add(self);
    }
  }
  const presence = (before: Map<string, Counted | undefined>, now: Map<string, Counted>, into: SetChange) => {
    for (const [key, was] of before) {
      const is = now.get(key);
      if (was && !is) into.removed.push(was.text);
      else if (!was && is) into.added.push(is.text);
    }
  };
  presence(isolatedBefore, state.isolated, out.isolated);
  presence(pairsBefore, state.pairs, out.pairs);
  // A tuple is written only while no pair covers it: pairs that came or went move their tuples too.
  const touched = new Set(portsBefore.keys());
  for (const [pair, was] of pairsBefore) {
    if (!was === !state.pairs.has(pair)) continue;
    for (const key of state.portsByPair.get(pair) ?? []) touched.add(key);
  }
  const pairWas = (pair: string) => (pairsBefore.has(pair) ? pairsBefore.get(pair) : state.pairs.get(pair));
  for (const key of touched) {
    const was = portsBefore.has(key) ? portsBefore.get(key) : state.ports.get(key);
    const is = state.ports.get(key);
    const wasWritten = was !== undefined && pairWas(was.pair!) === undefined;
    const isWritten = is !== undefined && !state.pairs.has(is.pair!);
    if (wasWritten && !isWritten) out.ports.removed.push(was.text);
    else if (!wasWritten && isWritten) out.ports.added.push(is.text);
  }
  for (const self of selves) {
    const before = state.ranges.get(self) ?? [];
    const owners = state.boxOwners.get(self);
    const n = addresses.int(self);
    const after = owners
      ? disjoint([...owners.keys()].flatMap((c) => c.boxes.get(self)!)).map(({ peer, proto, port }) =>
          rangeText(
            direction === 'egress'
              ? { src: [n, n], dst: peer, proto, port }
              : { src: peer, dst: [n, n], proto, port },
          ),
        )
      : [];
    if (after.length > 0) state.ranges.set(self, after);
    else state.ranges.delete(self);
    const had = new Set(before);
    const has = new Set(after);
    for (const e of before) if (!has.has(e)) out.ranges.removed.push(e);
    for (const e of after) if (!had.has(e)) out.ranges.added.push(e);
  }
  return out;
}

/** The element texts of one direction's set, in the order compileFirewall writes them. */
function directionList(state: DirectionState, set: keyof DirectionChanges, addresses: Addresses): string[] {
  if (set === 'ranges')
    return [...state.ranges.keys()].sort(addresses.compare).flatMap((self) => state.ranges.get(self)!);
  let values = [...state[set].values()];
  if (set === 'ports') values = values.filter((e) => !state.pairs.has(e.pair!));
  return values.sort(byKeys).map((e) => e.text);
}

/** What the incremental compile keeps between two compiles of one environment in one world. */
interface IncrementalState {
  env: string;
  world: World;
  egress: DirectionState;
  ingress: DirectionState;
  /** Each element block's text (compile.ts's `block()`), by set or map name. */
  blocks: Record<string, string>;
  modes: readonly string[];
  text: string;
  revision: string;
}

/**
 * Compiles again and again, reusing what did not change: each policy's contribution is kept by
 * its content (and dropped when the world changes), and `update` keeps the sets as reference
 * counts over the contributions, so a one-rule change on a 10,000-rule policy recomputes one
 * policy, moves a few counts, re-sorts only the sets that changed, and returns the element-level
 * delta from its previous output. Same text as compileFirewall.
 */
export class FirewallCompiler {
  #context: WorldContext | undefined;
  #contributions = new Map<string, Contribution>();
  /**
   * A policy object's cache keys (direction and content), computed once per object: the daemon
   * keeps its policies' objects, and a key string made once keeps its hash.
   */
  readonly #keys = new WeakMap<NetworkPolicy, Record<Direction, string>>();
  #state: IncrementalState | undefined;

  /** Each policy's contribution in `direction`, reused by content; the cache keeps only what is used. */
  #contributionsOf(
    input: CompileFirewallInput,
  ): (policy: NetworkPolicy, direction: Direction) => Contribution {
    if (this.#context?.world !== input.world) {
      this.#context = worldContext(input.world);
      this.#contributions = new Map();
    }
    const ctx = this.#context;
    const used = new Map<string, Contribution>();
    const previous = this.#contributions;
    // Only what the current policies use stays: memory follows the policy, not its history.
    this.#contributions = used;
    return (policy, direction) => {
      let keys = this.#keys.get(policy);
      if (keys === undefined) {
        const content = JSON.stringify(policy);
        keys = { egress: `egress\u0000${content}`, ingress: `ingress\u0000${content}` };
        this.#keys.set(policy, keys);
      }
      const key = keys[direction];
      let c = used.get(key) ?? previous.get(key);
      if (c === undefined) c = contribution(policy, direction, ctx);
      used.set(key, c);
      return c;
    };
  }

  plan(input: CompileFirewallInput): FirewallPlan {
    const contributionOf = this.#contributionsOf(input);
    return planWith(input, this.#context!, contributionOf);
  }

  compile(input: CompileFirewallInput): string {
    return this.update(input).text;
  }

  /** The text for `input`, and the element-level delta from this compiler's previous output. */
  update(input: CompileFirewallInput): CompiledFirewall {
    const contributionOf = this.#contributionsOf(input);
    const ctx = this.#context!;
    const { addresses, world } = ctx;
    const prev = this.#state;
    const fresh = prev === undefined || prev.world !== world || prev.env !== input.env;
    const state: IncrementalState = fresh
      ? {
          env: input.env,
          world,
          egress: new DirectionState(),
          ingress: new DirectionState(),
          blocks: {},
          modes: [],
          text: '',
          revision: '',
        }
      : prev;
    const changes: SetChange[] = [];
    const blockOf = new Map(ELEMENT_BLOCKS.map((b) => [b.name, b]));
    const setBlock = (name: string, items: readonly string[]) => {
      const b = blockOf.get(name)!;
      state.blocks[name] = block(b.kind, name, b.header, items);
    };
    if (fresh) {
      const base = planWith({ ...input, policies: [] }, ctx, () => NO_CONTRIBUTION);
      setBlock('pods', base.pods);
      setBlock('same_pod', base.samePod.map(pairText));
    }
    for (const d of ['egress', 'ingress'] as const) {
      const dir = state[d];
      const moved = updateDirection(
        dir,
        d,
        input.policies.map((p) => contributionOf(p, d)),
        addresses,
      );
      for (const set of ['isolated', 'pairs', 'ports', 'ranges'] as const) {
        const c = moved[set];
        if (!fresh && c.added.length === 0 && c.removed.length === 0) continue;
        setBlock(`${d}_${set}`, directionList(dir, set, addresses));
        if (c.added.length > 0 || c.removed.length > 0) changes.push(c);
      }
    }
    const modes = [...modeByAddress(world, input.modes)]
      .sort(([a], [b]) => addresses.compare(a, b))
      .map(modeText);
    if (fresh || modes.join('\n') !== state.modes.join('\n')) {
      setBlock('mode', modes);
      const now = new Set(modes);
      const was = new Set(state.modes);
      const modeChange: SetChange = {
        kind: 'map',
        name: 'mode',
        added: modes.filter((m) => !was.has(m)),
        removed: state.modes.filter((m) => !now.has(m)),
      };
      if (modeChange.added.length > 0 || modeChange.removed.length > 0) changes.push(modeChange);
      state.modes = modes;
    }
    if (fresh || changes.length > 0) {
      state.text = renderTable(
        nftTableName(input.env),
        [bridgeName(input.env, 'app'), bridgeName(input.env, 'db')],
        state.blocks,
      );
      const previousRevision = state.revision;
      state.revision = revisionOf(state.text);
      this.#state = state;
      if (fresh) return { text: state.text, revision: state.revision };
      return {
        text: state.text,
        revision: state.revision,
        delta: { previousRevision, revision: state.revision, changes },
      };
    }
    return {
      text: state.text,
      revision: state.revision,
      delta: { previousRevision: state.revision, revision: state.revision, changes: [] },
    };
  }
}

/** Pure: the sets and maps the ruleset is made of (renderFirewall turns them into text). */
export function planFirewall(input: CompileFirewallInput): FirewallPlan {
  const ctx = worldContext(input.world);
  return planWith(input, ctx, (policy, direction) => contribution(policy, direction, ctx));
}

function planWith(
  input: CompileFirewallInput,
  ctx: WorldContext,
  contributionOf: (policy: NetworkPolicy, direction: Direction) => Contribution,
): FirewallPlan {
  const { world, addresses } = ctx;
  const pods = world.pods.flatMap((p) => p.ips).sort(addresses.compare);
  const samePod: [string, string][] = [];
  for (const pod of world.pods) for (const a of pod.ips) for (const b of pod.ips) samePod.push([a, b]);
  samePod.sort(([a1, b1], [a2, b2]) => addresses.compare(a1, a2) || addresses.compare(b1, b2));
  const direction = (d: Direction) =>
    mergeContributions(
      d,
      input.policies.map((p) => contributionOf(p, d)),
      addresses,
    );
  return {
    table: nftTableName(input.env),
    bridges: [bridgeName(input.env, 'app'), bridgeName(input.env, 'db')],
    pods,
    samePod,
    egress: direction('egress'),
    ingress: direction('ingress'),
    modes: [...modeByAddress(world, input.modes)].sort(([a], [b]) => addresses.compare(a, b)),
  };
}

const NO_CONTRIBUTION: Contribution = {
  isolated: [],
  pairs: new Map(),
  ports: new Map(),
  boxes: new Map(),
};

function contribution(policy: NetworkPolicy, direction: Direction, ctx: WorldContext): Contribution {
  const { world, addresses } = ctx;
  const type = direction === 'egress' ? 'Egress' : 'Ingress';
  if (!policyTypesOf(policy).includes(type)) return NO_CONTRIBUTION;
  const selected = world.pods.filter((p) => selectsPod(policy, p));
  if (selected.length === 0) return NO_CONTRIBUTION;
  const pairs = new Map<string, [string, string]>();
  const ports = new Map<string, DirectionPlan['ports'][number]>();
  const boxes = new Map<string, Box[]>();

  /** `self` is the selected pod's address; `peer` the other end, one address (`peerIp`) or a range. */
  const add = (self: string, peerIp: string | undefined, peer: Range, proto: Range, port: Range) => {
    if (peerIp !== undefined) {
      const src = direction === 'egress' ? self : peerIp;
      const dst = direction === 'egress' ? peerIp : self;
      if (proto[0] !== proto[1]) return void pairs.set(`${src} ${dst}`, [src, dst]);
      if (port[0] === port[1]) {
        const key = `${src} ${dst} ${proto[0]} ${port[0]}`;
        if (!ports.has(key)) ports.set(key, { src, dst, proto: proto[0], port: port[0] });
        return;
      }
    }
    const list = boxes.get(self);
    if (list) list.push({ peer, proto, port });
    else boxes.set(self, [{ peer, proto, port }]);
  };

  const rules: readonly (NetworkPolicyIngressRule & NetworkPolicyEgressRule)[] =
    (direction === 'egress' ? policy.spec.egress : policy.spec.ingress) ?? [];
  for (const rule of rules) {
    // Peers: pods (their addresses, exact) or address ranges (ipBlocks; no peers = everything).
    const peers = (direction === 'egress' ? rule.to : rule.from) ?? [];
    let peerPods: readonly WorldPod[] = NO_PODS;
    const peerRanges: Range[] = [];
    if (peers.length === 0) peerRanges.push([0, MAX_IP]);
    for (const peer of peers) {
      if (peer.ipBlock) peerRanges.push(...ipBlockRanges(peer.ipBlock));
      else {
        const found = ctx.peerPods.get(peer, policy.metadata.namespace);
        // One selector peer (the common case) needs no de-duplication.
        peerPods = peerPods === NO_PODS ? found : [...new Set([...peerPods, ...found])];
      }
    }
    const entries: readonly (NetworkPolicyPort | undefined)[] = rule.ports?.length ? rule.ports : [undefined];
    for (const pod of selected) {
      for (const self of pod.ips) {
        for (const entry of entries) {
          // Indexed loops: this is the 10,000-rule path.
          for (let i = 0; i < peerPods.length; i++) {
            const peer = peerPods[i]!;
            const boxesOf = portBoxes(entry, direction === 'egress' ? peer : pod, ctx.boxes);
            for (let j = 0; j < peer.ips.length; j++) {
              const ip = peer.ips[j]!;
              for (let k = 0; k < boxesOf.length; k++) {
                add(self, ip, addresses.single(ip), boxesOf[k]![0], boxesOf[k]![1]);
              }
            }
          }
          if (peerRanges.length === 0) continue;
          if (direction === 'egress' && typeof entry?.port === 'string') {
            // A named port exists only on pods: an egress range reaches it on the pods inside the range.
            for (const other of world.pods) {
              for (const ip of other.ips) {
                const n = addresses.int(ip);
                if (!peerRanges.some(([lo, hi]) => n >= lo && n <= hi)) continue;
                for (const [proto, port] of portBoxes(entry, other, ctx.boxes))
                  add(self, ip, addresses.single(ip), proto, port);
              }
            }
          } else {
            for (const range of peerRanges) {
              for (const [proto, port] of portBoxes(entry, pod, ctx.boxes))
                add(self, undefined, range, proto, port);
            }
          }
        }
      }
    }
  }
  return { isolated: selected.flatMap((p) => p.ips), pairs, ports, boxes };
}

/** The union of the policies' contributions, sorted: policies add up. */
function mergeContributions(
  direction: Direction,
  list: readonly Contribution[],
  addresses: Addresses,
): DirectionPlan {
  const isolated = new Set<string>();
  const pairs = new Map<string, [string, string]>();
  const ports = new Map<string, DirectionPlan['ports'][number]>();
  const boxes = new Map<string, Box[]>();
  for (const c of list) {
    for (const ip of c.isolated) isolated.add(ip);
    for (const [k, v] of c.pairs) pairs.set(k, v);
    for (const [k, v] of c.ports) if (!ports.has(k)) ports.set(k, v);
    for (const [self, b] of c.boxes) {
      const have = boxes.get(self);
      if (have) have.push(...b);
      else boxes.set(self, [...b]);
    }
  }
  const cmp = addresses.compare;
  const ranges: RangeElement[] = [];
  for (const [self, list] of [...boxes].sort(([a], [b]) => cmp(a, b))) {
    const n = addresses.int(self);
    for (const { peer, proto, port } of disjoint(list)) {
      ranges.push(
        direction === 'egress'
          ? { src: [n, n], dst: peer, proto, port }
          : { src: peer, dst: [n, n], proto, port },
      );
    }
  }
  const pairList = [...pairs.values()].sort(([a1, b1], [a2, b2]) => cmp(a1, a2) || cmp(b1, b2));
  const int = (ip: string) => addresses.int(ip);
  const portList = [...ports.values()]
    .filter((p) => !pairs.has(`${p.src} ${p.dst}`))
    // Sort keys computed once per element, not once per comparison.
    .map((p) => ({ p, k1: int(p.src), k2: int(p.dst), k3: p.proto * 65536 + p.port }))
    .sort((a, b) => a.k1 - b.k1 || a.k2 - b.k2 || a.k3 - b.k3)
    .map((x) => x.p);
  return { isolated: [...isolated].sort(cmp), pairs: pairList, ports: portList, ranges };
}

const ALL_BOXES: [Range, Range][] = [[ALL_PROTOCOLS, ALL_PORTS]];
const NO_PODS: readonly WorldPod[] = [];

/** The (protocol, port) boxes one `ports` entry allows; named ports resolve on `dstPod`. */
function portBoxes(
  entry: NetworkPolicyPort | undefined,
  dstPod: WorldPod,
  numericBoxes: Map<string, [Range, Range][]>,
): [Range, Range][] {
  if (entry === undefined) return ALL_BOXES;
  const protocol = entry.protocol ?? 'TCP';
  if (typeof entry.port === 'string') {
    const proto: Range = [PROTOCOL_NUMBER[protocol], PROTOCOL_NUMBER[protocol]];
    return dstPod.ports
      .filter((p) => p.name === entry.port && p.protocol === protocol)
      .map((p): [Range, Range] => [proto, [p.port, p.port]]);
  }
  const key = `${protocol} ${entry.port} ${entry.endPort}`;
  let boxes = numericBoxes.get(key);
  if (boxes === undefined) {
    const proto: Range = [PROTOCOL_NUMBER[protocol], PROTOCOL_NUMBER[protocol]];
    const port: Range = entry.port === undefined ? ALL_PORTS : [entry.port, entry.endPort ?? entry.port];
    numericBoxes.set(key, (boxes = [[proto, port]]));
  }
  return boxes;
}

/**
 * The union of `boxes` as disjoint boxes: a sweep over the peer addresses cuts them into segments
 * covered by the same boxes; within a segment the protocol/port coverage is merged per protocol;
 * neighbouring segments with the same coverage are joined again.
 */
export function disjoint(boxes: readonly Box[]): Box[] {
  const points = [...new Set(boxes.flatMap((b) => [b.peer[0], b.peer[1] + 1]))].sort((a, b) => a - b);
  const starts = [...boxes].sort((a, b) => a.peer[0] - b.peer[0]);
  const active = new Set<Box>();
  const segments: { lo: number; hi: number; cover: [Range, Range][]; key: string }[] = [];
  let next = 0;
  for (let i = 0; i < points.length - 1; i++) {
    const lo = points[i]!;
    const hi = points[i + 1]! - 1;
    for (const b of active) if (b.peer[1] < lo) active.delete(b);
    while (next < starts.length && starts[next]!.peer[0] <= lo) active.add(starts[next++]!);
    if (active.size === 0) continue;
    const cover = coverage([...active]);
    const key = JSON.stringify(cover);
    const last = segments[segments.length - 1];
    if (last && last.key === key && last.hi + 1 === lo) last.hi = hi;
    else segments.push({ lo, hi, cover, key });
  }
  return segments.flatMap((s) =>
    s.cover.map(([proto, port]) => ({ peer: [s.lo, s.hi] as Range, proto, port })),
  );
}

function coverage(active: readonly Box[]): [Range, Range][] {
  if (active.some((b) => b.proto[0] !== b.proto[1])) return [[ALL_PROTOCOLS, ALL_PORTS]];
  const byProto = new Map<number, Range[]>();
  for (const b of active) byProto.set(b.proto[0], [...(byProto.get(b.proto[0]) ?? []), b.port]);
  const out: [Range, Range][] = [];
  for (const proto of [...byProto.keys()].sort((a, b) => a - b)) {
    const sorted = [...byProto.get(proto)!].sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const [lo, hi] of sorted) {
      const last = merged[merged.length - 1];
      if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
      else merged.push([lo, hi]);
    }
    for (const m of merged) out.push([[proto, proto], m]);
  }
  return out;
}

// ---- rendering -------------------------------------------------------------------------------------

function addressRange([lo, hi]: Range): string {
  if (lo === hi) return intToIpv4(lo);
  const size = hi - lo + 1;
  const prefix = 32 - Math.log2(size);
  if (Number.isInteger(prefix) && lo % size === 0) return `${intToIpv4(lo)}/${prefix}`;
  return `${intToIpv4(lo)}-${intToIpv4(hi)}`;
}
const protoText = ([lo, hi]: Range) => (lo === hi ? (PROTOCOL_NAME[lo] ?? String(lo)) : `${lo}-${hi}`);
const portText = ([lo, hi]: Range) => (lo === hi ? String(lo) : `${lo}-${hi}`);

const TUPLE = 'ipv4_addr . ipv4_addr . inet_proto . inet_service';
const KEY = 'ip saddr . ip daddr . meta l4proto . th dport';

/** Element texts, in the kernel's text order (one per line of the `elements = { … }` block). */
const pairText = ([s, t]: readonly [string, string]) => `${s} . ${t}`;
const portElementText = (p: DirectionPlan['ports'][number]) =>
  `${p.src} . ${p.dst} . ${protoText([p.proto, p.proto])} . ${p.port}`;
const rangeText = (r: RangeElement) =>
  `${addressRange(r.src)} . ${addressRange(r.dst)} . ${protoText(r.proto)} . ${portText(r.port)}`;
const modeText = ([ip, m]: readonly [string, FirewallMode]) => `${ip} : jump denied_${m}`;

/** The sets and the map whose elements compile.ts writes, with their declarations, in text order. */
const ELEMENT_BLOCKS: readonly { kind: 'set' | 'map'; name: string; header: readonly string[] }[] = [
  { kind: 'set', name: 'pods', header: ['type ipv4_addr'] },
  { kind: 'set', name: 'same_pod', header: ['type ipv4_addr . ipv4_addr'] },
  ...(['egress', 'ingress'] as const).flatMap((d) => [
    { kind: 'set' as const, name: `${d}_isolated`, header: ['type ipv4_addr'] },
    { kind: 'set' as const, name: `${d}_pairs`, header: ['type ipv4_addr . ipv4_addr'] },
    { kind: 'set' as const, name: `${d}_ports`, header: [`type ${TUPLE}`] },
    { kind: 'set' as const, name: `${d}_ranges`, header: [`type ${TUPLE}`, 'flags interval'] },
  ]),
  { kind: 'map', name: 'mode', header: ['type ipv4_addr : verdict'] },
];

function block(
  kind: 'set' | 'map',
  name: string,
  header: readonly string[],
  items: readonly string[],
): string {
  const lines = [`\t${kind} ${name} {`, ...header.map((h) => `\t\t${h}`)];
  if (items.length > 0) {
    lines.push(
      `\t\telements = {`,
      ...items.map((e, i) => `\t\t\t${e}${i < items.length - 1 ? ',' : ''}`),
      `\t\t}`,
    );
  }
  return [...lines, `\t}`, ''].join('\n');
}

function elementLists(plan: FirewallPlan): Record<string, readonly string[]> {
  const lists: Record<string, readonly string[]> = {
    pods: plan.pods,
    same_pod: plan.samePod.map(pairText),
    mode: plan.modes.map(modeText),
  };
  for (const d of ['egress', 'ingress'] as const) {
    lists[`${d}_isolated`] = plan[d].isolated;
    lists[`${d}_pairs`] = plan[d].pairs.map(pairText);
    lists[`${d}_ports`] = plan[d].ports.map(portElementText);
    lists[`${d}_ranges`] = plan[d].ranges.map(rangeText);
  }
  return lists;
}

function checkChain(d: Direction): string[] {
  const pod = d === 'egress' ? 'ip saddr' : 'ip daddr';
  return [
    `\tchain ${d} {`,
    `\t\tip saddr . ip daddr @${d}_pairs return`,
    `\t\t${KEY} @${d}_ports return`,
    `\t\t${KEY} @${d}_ranges return`,
    `\t\t${pod} vmap @mode`,
    `\t}`,
    '',
  ];
}

const mark = `0x${DENIED_CT_MARK.toString(16).padStart(8, '0')}`;
const CONNTRACK_RULES = [
  `\t\tct state established,related ct mark & ${mark} == 0x00000000 accept`,
  `\t\tct state related accept`,
  // Replies of a connection flagged as denied: its original direction is what gets checked.
  `\t\tct direction reply accept`,
];

/** Pure: the table's text, for `nft -f` (apply.ts wraps it in one transaction). */
export function renderFirewall(plan: FirewallPlan): string {
  const lists = elementLists(plan);
  const blocks: Record<string, string> = {};
  for (const b of ELEMENT_BLOCKS) blocks[b.name] = block(b.kind, b.name, b.header, lists[b.name] ?? []);
  return renderTable(plan.table, plan.bridges, blocks);
}

/** The table's text around the element blocks (`block()` of each of ELEMENT_BLOCKS, by name). */
function renderTable(table: string, bridgeNames: readonly string[], blocks: Record<string, string>): string {
  const bridges = `{ ${bridgeNames.map((b) => `"${b}"`).join(', ')} }`;
  const lines = [
    `table inet ${table} {`,
    ...ELEMENT_BLOCKS.map((b) => blocks[b.name]!),
    block(
      'set',
      'denied',
      [
        `type ${TUPLE}`,
        'flags dynamic,timeout',
        `timeout ${DENIED_TIMEOUT}`,
        `size ${DENIED_SET_SIZE}`,
        'counter',
      ],
      [],
    ),
    `\tchain denied_learn {`,
    `\t\tct mark set ct mark | ${mark}`,
    `\t}`,
    '',
    `\tchain denied_monitor {`,
    `\t\tct mark set ct mark | ${mark}`,
    `\t\tadd @denied { ${KEY} }`,
    `\t}`,
    '',
    `\tchain denied_protect {`,
    `\t\tadd @denied { ${KEY} }`,
    `\t\tmeta l4proto tcp reject with tcp reset`,
    `\t\treject with icmp admin-prohibited`,
    `\t}`,
    '',
    ...checkChain('egress'),
    ...checkChain('ingress'),
    `\tchain check {`,
    `\t\tip saddr . ip daddr @same_pod accept`,
    `\t\tip saddr @egress_isolated jump egress`,
    `\t\tip daddr @ingress_isolated jump ingress`,
    `\t}`,
    '',
    `\tchain forward {`,
    // Before the network table's own filter (priority 0), which drops app<->db traffic silently: the
    // policy decides first, so a pod forcing its way onto the other network is recorded and alerted.
    `\t\ttype filter hook forward priority filter - 10; policy accept;`,
    // Namespaces get IPv6 link-local addresses by default, and policies speak IPv4 only: IPv6
    // between pods would bypass every policy. Rampart's pods are IPv4 endpoints, in every mode.
    `\t\tmeta nfproto ipv6 iifname ${bridges} drop`,
    `\t\tmeta nfproto ipv6 oifname ${bridges} drop`,
    ...CONNTRACK_RULES,
    `\t\tip saddr @pods goto check`,
    `\t\tip daddr @pods goto check`,
    `\t}`,
    '',
    // Pods reaching the host's own addresses (the bridges' gateways): their egress rules apply.
    `\tchain input {`,
    `\t\ttype filter hook input priority filter; policy accept;`,
    `\t\tmeta nfproto ipv6 iifname ${bridges} drop`,
    ...CONNTRACK_RULES,
    // The platform's OTLP receiver on the gateways, whatever the pod's egress policy (decision 0004):
    // the input hook sees only packets to the host's own addresses, so this opens nothing else.
    `\t\tip saddr @pods tcp dport ${OTLP_GATEWAY_PORT} accept`,
    `\t\tip saddr @pods goto check`,
    `\t}`,
    `}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Pure: the full `table inet rampart_<env> { … }` text for the environment. */
export function compileFirewall(input: CompileFirewallInput): string {
  return renderFirewall(planFirewall(input));
}
