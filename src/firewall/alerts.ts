import { createHash } from 'node:crypto';
import { parseCidr } from '../network/index.ts';
import type { DeniedEntry } from './apply.ts';
import { ipv4ToInt } from './evaluate.ts';
import { isSelfFlow, type AddressBook, type Endpoint, type ResolvedFlow } from './flows.ts';
import { edgeKey, peerKey, peerOf, type Edge } from './learn.ts';
import type { FirewallMode, Flow, Protocol, Verdict, World } from './types.ts';

/**
 * Alerts: flows outside policy (seen by conntrack in monitor mode, or dropped in protect mode and
 * read from the nft `denied` set), and unusual behaviour (a new destination after learning, a
 * database-network service reaching outside the env, a connection-rate spike). Identical alerts
 * are grouped: one alert with a count and first/last time, never one per packet.
 */

export type AlertKind = 'out-of-policy' | 'new-destination' | 'db-egress' | 'rate-spike';
/** `allowed-in-monitor`: outside policy but let through (monitor); `blocked`: dropped (protect). */
export type AlertDecision = 'allowed-in-monitor' | 'blocked' | 'allowed';

export interface AlertEnd {
  kind: Endpoint['kind'];
  ip: string;
  namespace?: string;
  service?: string;
  /** `web-0` */
  replica?: string;
}

/** One observation; the log groups identical ones into an Alert. */
export interface AlertOccurrence {
  kind: AlertKind;
  src: AlertEnd;
  dst: AlertEnd;
  protocol: Protocol | string;
  port: number;
  portName?: string;
  time: number;
  mode: FirewallMode;
  decision: AlertDecision;
  /** The verdict's reason ("no policy allows it (…)", "allowed by …") or what the anomaly is. */
  decidedBy: string;
  /** Policies that isolate the denying side, if any. */
  policies?: string[];
  /** Numbers that change from one occurrence to the next (not part of what groups alerts). */
  detail?: string;
  /** Occurrences this stands for (dropped packets for a protect-mode entry). @default 1 */
  count?: number;
}

export interface Alert extends Omit<AlertOccurrence, 'time' | 'count'> {
  /** Stable id of the group (hash of what makes two alerts identical). */
  id: string;
  count: number;
  firstSeen: number;
  lastSeen: number;
}

function endOf(e: Endpoint): AlertEnd {
  return e.kind === 'pod'
    ? { kind: 'pod', ip: e.ip, namespace: e.namespace, service: e.service, replica: e.pod }
    : { kind: e.kind, ip: e.ip };
}

const endKey = (e: AlertEnd): string =>
  e.kind === 'pod' ? `${e.namespace}/${e.replica}` : `${e.kind}:${e.ip}`;

/** What makes two occurrences the same alert. */
export function alertGroupKey(o: AlertOccurrence): string {
  return [
    o.kind,
    endKey(o.src),
    endKey(o.dst),
    `${o.protocol}/${o.port}`,
    o.mode,
    o.decision,
    o.decidedBy,
  ].join('|');
}

export function alertId(o: AlertOccurrence): string {
  return createHash('sha1').update(alertGroupKey(o)).digest('hex').slice(0, 12);
}

const formatEnd = (e: AlertEnd): string =>
  e.kind === 'pod' ? `${e.namespace}/${e.replica}` : e.kind === 'host' ? `host ${e.ip}` : e.ip;

/** One line for `rampart alerts`. */
export function formatAlert(a: Alert): string {
  const what = {
    'out-of-policy': a.decision === 'blocked' ? 'BLOCKED' : 'OUT-OF-POLICY',
    'new-destination': 'NEW-DESTINATION',
    'db-egress': 'DB-EGRESS',
    'rate-spike': 'RATE-SPIKE',
  }[a.kind];
  const port = `${a.protocol}/${a.port}${a.portName ? ` (${a.portName})` : ''}`;
  const times = a.count > 1 ? ` x${a.count} (first ${new Date(a.firstSeen).toISOString()})` : '';
  const detail = a.detail ? ` (${a.detail})` : '';
  return `${new Date(a.lastSeen).toISOString()} ${what} ${formatEnd(a.src)} -> ${formatEnd(a.dst)} ${port} [${a.mode}, ${a.decision}] ${a.decidedBy}${detail}${times}`;
}

// ---- out-of-policy flows ----------------------------------------------------------------------------

export interface PolicyAlertContext {
  /** The reference evaluator over the policies in force (createEvaluator). */
  check: (flow: Flow) => Verdict;
  modeOf: (namespace: string, service: string) => FirewallMode;
}

/**
 * Pure: flows conntrack saw (so the kernel let them through) that the policies do not allow. The
 * side that denies decides the mode: a pod in `learn` raises nothing; in `monitor` the flow is
 * `allowed-in-monitor`; a protect-mode pod whose flow still passed means enforcement lags behind
 * the policy (reported as `allowed`).
 */
export function policyAlerts(flows: readonly ResolvedFlow[], ctx: PolicyAlertContext): AlertOccurrence[] {
  const out: AlertOccurrence[] = [];
  for (const r of flows) {
    if (isSelfFlow(r)) continue;
    const v = ctx.check(r.flow);
    if (v.allowed) continue;
    const modes: FirewallMode[] = [];
    const policies: string[] = [];
    if (!v.egress.allowed && r.src.kind === 'pod') {
      modes.push(ctx.modeOf(r.src.namespace, r.src.service));
      policies.push(...v.egress.selectingPolicies);
    }
    if (!v.ingress.allowed && r.dst.kind === 'pod') {
      modes.push(ctx.modeOf(r.dst.namespace, r.dst.service));
      policies.push(...v.ingress.selectingPolicies);
    }
    if (!modes.some((m) => m !== 'learn')) continue;
    const mode: FirewallMode = modes.includes('protect') ? 'protect' : 'monitor';
    out.push({
      kind: 'out-of-policy',
      src: endOf(r.src),
      dst: endOf(r.dst),
      protocol: r.flow.protocol,
      port: r.flow.dstPort,
      ...(r.portName !== undefined && { portName: r.portName }),
      time: r.flow.time,
      mode,
      decision: mode === 'monitor' ? 'allowed-in-monitor' : 'allowed',
      decidedBy: v.reason,
      policies: [...new Set(policies)],
    });
  }
  return out;
}

/**
 * Protect-mode drops never reach conntrack; the firewall counts them per (source, destination,
 * protocol, port) in the nft set `denied`. This turns successive reads of that set into blocked
 * alerts: an entry whose packet counter grew is a new occurrence, counted in packets.
 */
export class DeniedTracker {
  private seen = new Map<string, number>();

  constructor(private readonly ctx: { book: () => AddressBook; check: (flow: Flow) => Verdict }) {}

  observe(entries: readonly DeniedEntry[], now: number): AlertOccurrence[] {
    const out: AlertOccurrence[] = [];
    const next = new Map<string, number>();
    const book = this.ctx.book();
    for (const e of entries) {
      const key = `${e.srcIp}|${e.dstIp}|${e.protocol}|${e.dstPort}`;
      next.set(key, e.packets);
      // An entry that expired and came back starts from 0 again.
      const before = this.seen.get(key) ?? 0;
      const grown = e.packets >= before ? e.packets - before : e.packets;
      if (grown <= 0) continue;
      const protocol = e.protocol as Protocol;
      const flow: Flow = { srcIp: e.srcIp, dstIp: e.dstIp, protocol, dstPort: e.dstPort, time: now };
      const v = this.ctx.check(flow);
      const src = book.lookup(e.srcIp);
      const dst = book.lookup(e.dstIp);
      const portName =
        dst.kind === 'pod'
          ? book
              .pod(dst.namespace, dst.pod)
              ?.ports.find((p) => p.port === e.dstPort && p.protocol === protocol)?.name
          : undefined;
      out.push({
        kind: 'out-of-policy',
        src: endOf(src),
        dst: endOf(dst),
        protocol: e.protocol,
        port: e.dstPort,
        ...(portName !== undefined && { portName }),
        time: now,
        mode: 'protect',
        decision: 'blocked',
        decidedBy: v.allowed ? `dropped by the kernel; the policies now allow it (${v.reason})` : v.reason,
        policies: [...new Set([...v.egress.selectingPolicies, ...v.ingress.selectingPolicies])],
        count: grown,
      });
    }
    this.seen = next;
    return out;
  }
}

// ---- anomalies --------------------------------------------------------------------------------------

export interface AnomalyOptions {
  /** Edges learned while the services were in learn mode: the baseline. */
  baseline: readonly Edge[];
  /** Whether a service's learning has ended (it is in monitor or protect). */
  learningEnded: (namespace: string, service: string) => boolean;
  /** The environment's block; a db-network service reaching outside it is an anomaly. */
  block: string;
  /** Services attached to the db network (see dbNetworkServices). */
  isDbService?: (namespace: string, service: string) => boolean;
  /** Rate buckets. @default 10_000 */
  intervalMs?: number;
  /** EWMA weight of the newest bucket. @default 0.3 */
  alpha?: number;
  /** A bucket above factor × baseline is a spike. @default 3 */
  spikeFactor?: number;
  /** …and above this many connections (no alert for 2 vs 0.5). @default 20 */
  minSpikeCount?: number;
}

interface RateState {
  bucket: number;
  count: number;
  ewma: number;
  /** Buckets closed so far (the baseline's seed counts as enough). */
  warm: boolean;
  alerted: boolean;
}

function cidrTest(cidr: string): (ip: string) => boolean {
  const c = parseCidr(cidr);
  const size = 2 ** (32 - c.prefix);
  return (ip) => {
    const n = ipv4ToInt(ip);
    return n >= c.network && n < c.network + size;
  };
}

/** `<namespace>/<service>` of every pod with an address in the env's db subnet. */
export function dbNetworkServices(world: World, dbSubnet: string): Set<string> {
  const inDb = cidrTest(dbSubnet);
  return new Set(world.pods.filter((p) => p.ips.some(inDb)).map((p) => `${p.namespace}/${p.service}`));
}

/**
 * Unusual behaviour against the learned baseline. Stateful but bounded: one rate state per edge.
 */
export class AnomalyDetector {
  private readonly known = new Set<string>();
  private readonly rates = new Map<string, RateState>();
  private readonly inBlock: (ip: string) => boolean;
  private readonly interval: number;

  constructor(private readonly opts: AnomalyOptions) {
    this.inBlock = cidrTest(opts.block);
    this.interval = opts.intervalMs ?? 10_000;
    for (const e of opts.baseline) {
      this.known.add(`${peerKey(e.src)} -> ${peerKey(e.dst)}`);
      // Seed: the baseline's average connections per bucket over the time it was seen.
      const buckets = Math.max(1, (e.lastSeen - e.firstSeen) / this.interval);
      this.rates.set(edgeKey(e), {
        bucket: -1,
        count: 0,
        ewma: e.count / buckets,
        warm: true,
        alerted: false,
      });
    }
  }

  /** Flows of one batch, in time order; returns the anomalies they show. */
  observe(
    flows: readonly ResolvedFlow[],
    mode: (namespace: string, service: string) => FirewallMode,
  ): AlertOccurrence[] {
    const out: AlertOccurrence[] = [];
    const alpha = this.opts.alpha ?? 0.3;
    for (const r of flows) {
      const src = r.src;
      if (src.kind !== 'pod' || isSelfFlow(r)) continue;
      const base = (kind: AlertKind, decidedBy: string): AlertOccurrence => ({
        kind,
        src: endOf(r.src),
        dst: endOf(r.dst),
        protocol: r.flow.protocol,
        port: r.flow.dstPort,
        ...(r.portName !== undefined && { portName: r.portName }),
        time: r.flow.time,
        mode: mode(src.namespace, src.service),
        decision: 'allowed',
        decidedBy,
      });
      const srcPeer = peerOf(src);
      const dstPeer = peerOf(r.dst);
      const pair = `${peerKey(srcPeer)} -> ${peerKey(dstPeer)}`;
      if (this.opts.learningEnded(src.namespace, src.service) && !this.known.has(pair)) {
        out.push(
          base(
            'new-destination',
            `${src.namespace}/${src.service} never reached this destination while learning`,
          ),
        );
      }
      if (!this.inBlock(r.dst.ip) && (this.opts.isDbService?.(src.namespace, src.service) ?? false)) {
        out.push(
          base('db-egress', `a database-network service reached ${r.dst.ip}, outside the environment`),
        );
      }
      const key = edgeKey({ src: srcPeer, dst: dstPeer, protocol: r.flow.protocol, port: r.flow.dstPort });
      const bucket = Math.floor(r.flow.time / this.interval);
      let s = this.rates.get(key);
      if (!s) this.rates.set(key, (s = { bucket, count: 0, ewma: 0, warm: false, alerted: false }));
      if (bucket > s.bucket) {
        if (s.bucket >= 0) {
          s.ewma = alpha * s.count + (1 - alpha) * s.ewma;
          // Empty buckets in between pull the baseline down too.
          s.ewma *= (1 - alpha) ** Math.max(0, bucket - s.bucket - 1);
          s.warm = true;
        }
        s.bucket = bucket;
        s.count = 0;
        s.alerted = false;
      }
      s.count++;
      const threshold = Math.max(this.opts.minSpikeCount ?? 20, (this.opts.spikeFactor ?? 3) * s.ewma);
      if (s.warm && !s.alerted && s.count > threshold) {
        s.alerted = true;
        out.push({
          ...base('rate-spike', `connection rate above ${this.opts.spikeFactor ?? 3}x the learned baseline`),
          detail: `${s.count} connections in ${this.interval / 1000}s, baseline ${Math.round(s.ewma * 10) / 10}`,
        });
      }
    }
    return out;
  }
}

// ---- the log ----------------------------------------------------------------------------------------

export interface AlertEvent {
  type: 'new' | 'update';
  alert: Alert;
}

export interface AlertFilter {
  /** Alerts seen at or after this time (lastSeen). */
  since?: number;
  kind?: AlertKind;
  /** Newest first; @default 1000 */
  limit?: number;
}

/**
 * Where alerts go. The daemon backs it with the store; `rampart alerts -f` and the API's live tail
 * use subscribe. A new group is announced at once (the 1-second goal); growth of a group's count is
 * announced at most once per `updateIntervalMs`, so a flood is one line that counts up.
 */
export interface AlertLog {
  record(occurrences: readonly AlertOccurrence[]): Promise<void>;
  list(filter?: AlertFilter): Promise<Alert[]>;
  subscribe(listener: (event: AlertEvent) => void): () => void;
}

export function groupOccurrence(prev: Alert | undefined, o: AlertOccurrence): Alert {
  const n = o.count ?? 1;
  if (prev) {
    return {
      ...prev,
      count: prev.count + n,
      firstSeen: Math.min(prev.firstSeen, o.time),
      lastSeen: Math.max(prev.lastSeen, o.time),
      ...(o.detail !== undefined && { detail: o.detail }),
    };
  }
  const { time, count: _count, ...rest } = o;
  return { ...rest, id: alertId(o), count: n, firstSeen: time, lastSeen: time };
}

export class MemoryAlertLog implements AlertLog {
  private readonly groups = new Map<string, Alert>();
  private readonly listeners = new Set<(event: AlertEvent) => void>();
  private readonly lastAnnounced = new Map<string, number>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly maxGroups: number;
  private readonly updateIntervalMs: number;
  private readonly now: () => number;

  /**
   * @param opts.maxGroups oldest groups (by lastSeen) are forgotten beyond this. @default 10_000
   * @param opts.updateIntervalMs @default 1000
   */
  constructor(opts: { maxGroups?: number; updateIntervalMs?: number; now?: () => number } = {}) {
    this.maxGroups = opts.maxGroups ?? 10_000;
    this.updateIntervalMs = opts.updateIntervalMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  async record(occurrences: readonly AlertOccurrence[]): Promise<void> {
    for (const o of occurrences) {
      const key = alertGroupKey(o);
      const prev = this.groups.get(key);
      const next = groupOccurrence(prev, o);
      this.groups.delete(key); // re-insert: Map order is then least recently seen first
      this.groups.set(key, next);
      if (!prev) this.announce(key, 'new');
      else if (this.now() - (this.lastAnnounced.get(key) ?? 0) >= this.updateIntervalMs)
        this.announce(key, 'update');
      else this.pending.add(key);
    }
    while (this.groups.size > this.maxGroups) {
      const oldest = this.groups.keys().next().value as string;
      this.groups.delete(oldest);
      this.lastAnnounced.delete(oldest);
      this.pending.delete(oldest);
    }
    if (this.pending.size > 0 && !this.timer && this.listeners.size > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        for (const key of [...this.pending]) this.announce(key, 'update');
      }, this.updateIntervalMs);
      this.timer.unref();
    }
  }

  private announce(key: string, type: AlertEvent['type']): void {
    this.pending.delete(key);
    const alert = this.groups.get(key);
    if (!alert) return;
    this.lastAnnounced.set(key, this.now());
    for (const l of this.listeners) l({ type, alert: { ...alert } });
  }

  async list(filter: AlertFilter = {}): Promise<Alert[]> {
    return [...this.groups.values()]
      .filter(
        (a) =>
          (filter.since === undefined || a.lastSeen >= filter.since) &&
          (!filter.kind || a.kind === filter.kind),
      )
      .sort((a, b) => b.lastSeen - a.lastSeen || a.id.localeCompare(b.id))
      .slice(0, filter.limit ?? 1000)
      .map((a) => ({ ...a }));
  }

  subscribe(listener: (event: AlertEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
    };
  }
}
