import type { FastifyInstance } from 'fastify';
import { join } from 'node:path';
import type { Edge } from '../firewall/index.ts';
import {
  Observability,
  ReplicaSampler,
  type AddressResolver,
  type FlowEdge,
  type NodeKind,
  type ReplicaTarget,
} from '../observe/index.ts';
import { systemClock, type Clock } from '../platform/clock.ts';
import { OTLP_GATEWAY_PORT } from '../platform/ports.ts';
import type { ControlPlane, EnvironmentSnapshot, EnvironmentWatcher } from './control-plane.ts';
import type { ObserveRouteDeps } from './routes/observe.ts';
import { buildOtlpGatewayApp, type ReplicaIdentity } from './routes/otlp-gateway.ts';

export interface DaemonObservabilityOptions {
  /** The daemon's state directory: the stores live in `<stateDir>/observe/`. */
  stateDir?: string;
  controlPlane: Pick<ControlPlane, 'onLog' | 'ps' | 'environments' | 'firewall' | 'emit'>;
  clock?: Clock;
  /** Port of the OTLP receivers on the bridges' gateways. @default 4318 */
  otlpPort?: number;
  /** Per-replica CPU and memory sampling. @default 10 s */
  sampleIntervalMs?: number;
}

interface EnvironmentState {
  byAddress: Map<string, ReplicaIdentity>;
  names: Map<string, { name: string; kind: NodeKind }>;
  secrets: string[];
  listeners: Map<string, FastifyInstance>;
}

/** Secrets shorter than this are not redacted: `***` in place of every `1` would hide the logs. */
const MIN_SECRET_LENGTH = 4;

/**
 * The daemon's observability: one Observability (stores under the state directory), fed by the
 * log journal, a /proc sampler per replica and OTLP receivers on every environment's bridge
 * gateways; it knows each environment's addresses (to name nodes of the service map and to
 * attribute OTLP by source address) and secrets (to redact them).
 */
export class DaemonObservability implements EnvironmentWatcher {
  readonly observe: Observability;
  private readonly environments = new Map<string, EnvironmentState>();
  private readonly sampler: ReplicaSampler;
  private readonly offLog: () => void;
  private readonly clock: Clock;

  constructor(private readonly opts: DaemonObservabilityOptions) {
    this.clock = opts.clock ?? systemClock;
    this.observe = new Observability({
      dir: opts.stateDir ? join(opts.stateDir, 'observe') : undefined,
      clock: this.clock,
      resolveAddress: this.resolveAddress,
    });
    this.observe.start();
    this.offLog = opts.controlPlane.onLog((line) => this.observe.ingestJournalLine(line));
    this.sampler = new ReplicaSampler({
      metrics: this.observe.metrics,
      targets: () => this.replicaTargets(),
      clock: this.clock,
      intervalMs: opts.sampleIntervalMs ?? 10_000,
    });
    this.sampler.start();
  }

  /** The series key of a replica's CPU and memory: `<environment>/<namespace>/<service>/<index>`. */
  static replicaKey(r: { environment: string; namespace: string; service: string; replica: number }): string {
    return `${r.environment}/${r.namespace}/${r.service}/${r.replica}`;
  }

  private replicaTargets(): ReplicaTarget[] {
    return this.opts.controlPlane
      .ps({})
      .filter((r) => r.pid !== null)
      .map((r) => ({ replica: DaemonObservability.replicaKey(r), pid: r.pid! }));
  }

  readonly resolveAddress: AddressResolver = (address) => {
    for (const env of this.environments.values()) {
      const known = env.names.get(address);
      if (known) return known;
    }
    return undefined;
  };

  /** The deps of the observe routes on the control API. */
  routeDeps(): ObserveRouteDeps {
    return { observe: this.observe, flows: (q) => this.flows(q) };
  }

  /**
   * An environment's network exists (before its replicas start, or adopted after a restart):
   * learn its addresses and secrets, and receive OTLP on its gateways.
   */
  async environmentReady(s: EnvironmentSnapshot): Promise<void> {
    const previous = this.environments.get(s.environment);
    const state: EnvironmentState = {
      ...indexEnvironment(s),
      listeners: previous?.listeners ?? new Map(),
    };
    this.environments.set(s.environment, state);
    this.observe.redact([...new Set([...this.environments.values()].flatMap((e) => e.secrets))]);
    this.observe.setAddressResolver(this.resolveAddress);
    const a = s.allocation.addressing;
    const gateways = [...new Set([a.app.gateway, a.db.gateway])];
    for (const [address, app] of state.listeners) {
      if (gateways.includes(address)) continue;
      await app.close();
      state.listeners.delete(address);
    }
    for (const address of gateways) {
      if (state.listeners.has(address)) continue;
      const app = buildOtlpGatewayApp({
        observe: this.observe,
        identify: (ip) => this.environments.get(s.environment)?.byAddress.get(ip),
      });
      try {
        await app.listen({ host: address, port: this.opts.otlpPort ?? OTLP_GATEWAY_PORT });
        state.listeners.set(address, app);
      } catch (error) {
        await app.close();
        // Tracing is an extra: the environment still comes up, without spans from this network.
        this.opts.controlPlane.emit({
          time: this.clock.now(),
          environment: s.environment,
          kind: 'observe.warning',
          subject: s.environment,
          message: `no OTLP receiver on ${address}:${this.opts.otlpPort ?? OTLP_GATEWAY_PORT}: ${(error as Error).message}`,
          data: {},
        });
      }
    }
  }

  /** The environment is gone (`down`): its receivers close. */
  async environmentRemoved(environment: string): Promise<void> {
    const state = this.environments.get(environment);
    if (!state) return;
    this.environments.delete(environment);
    await Promise.all([...state.listeners.values()].map((app) => app.close()));
  }

  /** Where the OTLP receivers of an environment listen (for tests and `rampart doctor`). */
  receivers(environment: string): string[] {
    return [...(this.environments.get(environment)?.listeners.keys() ?? [])].map(
      (a) => `${a}:${this.opts.otlpPort ?? OTLP_GATEWAY_PORT}`,
    );
  }

  /** Connections the firewall's flow log saw in the window, between services, databases and outside. */
  async flows(q: { windowMs: number; environment?: string }): Promise<FlowEdge[]> {
    const since = this.clock.now() - q.windowMs;
    const out: FlowEdge[] = [];
    for (const environment of this.opts.controlPlane.environments()) {
      if (q.environment && environment !== q.environment) continue;
      const databases = new Set(this.environments.get(environment)?.names.values() ?? []);
      const isDatabase = (name: string) =>
        [...databases].some((n) => n.name === name && n.kind === 'database');
      let edges: Edge[];
      try {
        edges = await this.opts.controlPlane.firewall(environment).learnedEdges();
      } catch {
        continue;
      }
      for (const e of edges) {
        if (e.lastSeen < since || e.src.kind !== 'service') continue;
        // The host (health probes, published ports, OTLP exports) is Rampart, not a node of the map.
        if (e.dst.kind === 'host') continue;
        if (e.dst.kind === 'service') {
          if (e.dst.service === e.src.service) continue;
          out.push({
            from: e.src.service,
            to: e.dst.service,
            toKind: isDatabase(e.dst.service) ? 'database' : 'service',
            connections: e.count,
          });
        } else {
          out.push({ from: e.src.service, to: e.dst.ip, toKind: 'external', connections: e.count });
        }
      }
    }
    return out;
  }

  async close(): Promise<void> {
    this.offLog();
    this.sampler.stop();
    for (const environment of [...this.environments.keys()]) await this.environmentRemoved(environment);
    await this.observe.close();
  }
}

/** Pure: an environment's addresses to replicas and names, and its injected secret values. */
export function indexEnvironment(s: EnvironmentSnapshot): Omit<EnvironmentState, 'listeners'> {
  const byAddress = new Map<string, ReplicaIdentity>();
  const names = new Map<string, { name: string; kind: NodeKind }>();
  const kindOf = new Map<string, NodeKind>();
  for (const svc of s.stack.services) kindOf.set(`${svc.namespace}/${svc.name}`, 'service');
  for (const db of s.stack.databases) kindOf.set(`${db.namespace}/${db.name}`, 'database');
  for (const [key, kind] of kindOf) {
    const [namespace, name] = key.split('/') as [string, string];
    names.set(name, { name, kind });
    names.set(`${name}.${namespace}`, { name, kind });
    const vip = s.allocation.vips[key];
    if (vip) names.set(vip, { name, kind });
  }
  for (const [id, nets] of Object.entries(s.allocation.replicas)) {
    const [namespace, rest] = id.split('/') as [string, string];
    const dash = rest.lastIndexOf('-');
    const service = rest.slice(0, dash);
    const who: ReplicaIdentity = {
      environment: s.environment,
      namespace,
      service,
      replica: Number(rest.slice(dash + 1)),
      id,
    };
    const kind = kindOf.get(`${namespace}/${service}`) ?? 'service';
    for (const address of Object.values(nets)) {
      if (!address) continue;
      byAddress.set(address, who);
      names.set(address, { name: service, kind });
    }
  }
  const secrets = new Set<string>();
  for (const r of s.plan?.replicas ?? []) {
    const svc = s.stack.services.find((x) => x.name === r.service && x.namespace === r.namespace);
    for (const ref of svc?.secrets ?? []) {
      const value = r.env[`${svc!.app}_${ref.key}`];
      if (value && value.length >= MIN_SECRET_LENGTH) secrets.add(value);
    }
    // Database passwords travel inside the URLs Rampart injects.
    for (const [k, v] of Object.entries(r.env)) {
      if (!k.endsWith('DATABASE_URL')) continue;
      const password = /^[a-z]+:\/\/[^:@/]+:([^@/]+)@/.exec(v)?.[1];
      if (password) {
        const plain = decodeURIComponent(password);
        if (plain.length >= MIN_SECRET_LENGTH) secrets.add(plain);
      }
    }
  }
  return { byAddress, names, secrets: [...secrets] };
}
