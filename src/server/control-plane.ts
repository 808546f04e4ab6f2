import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Clock } from '../platform/clock.ts';
import { RampartError } from '../platform/errors.ts';
import { attempts } from '../platform/attempts.ts';
import {
  EnvironmentController,
  type ControllerOptions,
  type DatabaseEngines,
  type Progress,
} from '../orchestrator/index.ts';
import { flattenConfig, renderRcEnv } from '../orchestrator/index.ts';
import type { SecretCodec, ClientSecretValues } from '../orchestrator/index.ts';
import { LogJournal, type LogLine, type LogQuery, type LogSource } from '../logs/index.ts';
import type { Runtime } from '../runtime/index.ts';
import type { ResolvedStack } from '../stack/index.ts';
import type { EventRecord, Store } from '../store/index.ts';
import type { EnvironmentOwnership } from './ownership.ts';
import { FirewallManager, buildWorld, type FirewallContext, type FirewallModes } from '../firewall/index.ts';
import type { EnvironmentPlan, NetworkAllocation, NodePreloads } from '../orchestrator/index.ts';
import type { Exec } from '../platform/exec.ts';

/** The firewall's view of an environment: its pods (every planned replica, running or not) and networks. */
function firewallContext(stack: ResolvedStack, allocation: NetworkAllocation): FirewallContext {
  const replicas = Object.entries(allocation.replicas).map(([id, nets]) => {
    const [namespace, rest] = id.split('/') as [string, string];
    const dash = rest.lastIndexOf('-');
    return {
      namespace,
      service: rest.slice(0, dash),
      index: Number(rest.slice(dash + 1)),
      attachments: Object.entries(nets).map(([net, address]) => ({
        net: net as 'app' | 'db',
        address: address!,
      })),
    };
  });
  const a = allocation.addressing;
  return {
    stack,
    world: buildWorld(stack, replicas),
    block: allocation.block,
    dbSubnet: a.db.subnet,
    // The host is always allowed towards pods (as a Kubernetes node is): its bridge addresses and
    // loopback, where published ports arrive.
    hostIps: [a.app.gateway, a.db.gateway, '127.0.0.1'],
    subnets: [a.app.subnet, a.db.subnet],
  };
}

function describeModes(m: FirewallModes): string {
  const overrides = Object.entries(m.perService).map(([k, v]) => `${k}=${v}`);
  return `mode ${m.global}${overrides.length ? ` (${overrides.join(', ')})` : ''}`;
}

export interface ReplicaStatus {
  id: string;
  environment: string;
  namespace: string;
  service: string;
  replica: number;
  kind: 'service' | 'database';
  state: string;
  healthy: boolean;
  health: string;
  addresses: Record<string, string>;
  vip: string | undefined;
  pid: number | null;
  restarts: number;
  netns: string;
}

export interface ConfigEntry {
  /** rc key as the service sees it (dotted). */
  key: string;
  /** Environment variable that carries it. */
  variable: string;
  value: string;
  source: string;
}

/** An environment's network as it exists now (before its replicas start, or adopted). */
export interface EnvironmentSnapshot {
  environment: string;
  stack: ResolvedStack;
  allocation: NetworkAllocation;
  plan: EnvironmentPlan | undefined;
}

/** Told when an environment's network exists and when it is gone (the observability wiring). */
export interface EnvironmentWatcher {
  environmentReady(snapshot: EnvironmentSnapshot): Promise<void>;
  environmentRemoved(environment: string): Promise<void>;
}

export interface ControlPlaneOptions {
  runtime: Runtime;
  store: Store;
  clock: Clock;
  codec: SecretCodec;
  databases: DatabaseEngines;
  logDir: string;
  loadStack: (opts: { file: string; environment: string }) => Promise<ResolvedStack>;
  ownership: EnvironmentOwnership;
  exec: Exec;
  /** Run the conntrack flow source (off where conntrack is not wanted, e.g. API unit tests). @default true */
  captureFlows?: boolean;
  readyTimeoutMs?: number;
  /** Open and busy connections of a replica, for draining in rolling updates (delivery/drain.ts). */
  connectionsOf?: ControllerOptions['connectionsOf'];
  /** Preloads injected into Node services (tracing); omitted: none. */
  nodePreloads?: NodePreloads;
}

/**
 * The library surface of the control plane: the HTTP API and tests call these, the CLI calls the
 * HTTP API. One controller per environment; operations on one environment run one at a time.
 */
export class ControlPlane {
  private readonly controllers = new Map<string, EnvironmentController>();
  private readonly firewalls = new Map<string, FirewallManager>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly eventListeners = new Set<(e: EventRecord) => void>();
  private readonly watchers = new Set<EnvironmentWatcher>();
  readonly journal: LogJournal;

  constructor(private readonly opts: ControlPlaneOptions) {
    this.journal = new LogJournal({ clock: opts.clock });
  }

  /** The state store, for the API's own records (tokens) next to the environments'. */
  get store(): Store {
    return this.opts.store;
  }

  /** Registers a watcher of environments (before `start`, to hear of the adopted ones). */
  watchEnvironments(watcher: EnvironmentWatcher): void {
    this.watchers.add(watcher);
  }

  private async environmentReady(snapshot: EnvironmentSnapshot): Promise<void> {
    for (const w of this.watchers) await w.environmentReady(snapshot);
  }

  /** Re-adopts every environment in the store; removes kernel leftovers of environments it does not know. */
  async start(): Promise<{ environment: string; adopted: number; restarted: number }[]> {
    const deployments = await this.opts.store.listDeployments();
    const keep = new Set([...deployments.map((d) => d.environment), ...this.opts.ownership.foreign()]);
    const report = await this.opts.runtime.removeLeftovers(keep);
    if (report.removed.length > 0 || report.failed.length > 0) {
      this.emit({
        time: this.opts.clock.now(),
        environment: '',
        kind: 'cleanup',
        subject: 'leftovers',
        message: `removed ${report.removed.length} leftover objects of crashed runs${report.failed.length ? `, ${report.failed.length} failed` : ''}`,
        data: report,
      });
    }
    const results = [];
    for (const d of deployments) {
      const controller = this.controller(d.environment);
      try {
        const r = await controller.adopt();
        const allocation = controller.currentAllocation();
        if (allocation)
          await this.firewall(d.environment).update(firewallContext(d.spec as ResolvedStack, allocation));
        if (allocation) {
          const stack = d.spec as ResolvedStack;
          const plan = controller.currentPlan();
          await this.environmentReady({ environment: d.environment, stack, allocation, plan });
        }
        results.push({ environment: d.environment, ...r });
      } catch (error) {
        // One broken environment must not keep the daemon (and every other environment) down.
        this.emit({
          time: this.opts.clock.now(),
          environment: d.environment,
          kind: 'stack.adopt-failed',
          subject: d.environment,
          message: (error as Error).message,
          data: {},
        });
        results.push({ environment: d.environment, adopted: 0, restarted: 0 });
      }
      this.watchLogs(controller);
    }
    return results;
  }

  /** Daemon shutdown: stop supervising, leave replicas running for the next daemon to adopt. */
  async close(): Promise<void> {
    await Promise.all([...this.controllers.values()].map((c) => c.detach()));
    await Promise.all([...this.firewalls.values()].map((f) => f.close()));
    this.journal.close();
  }

  up(
    req: {
      file: string;
      environment: string;
      clientEnv: ClientSecretValues;
      /** An already resolved stack (a rollback to a stored release); else `file` is loaded. */
      stack?: ResolvedStack;
    },
    progress: Progress,
  ): Promise<void> {
    return this.serial(req.environment, async () => {
      const stack =
        req.stack ?? (await this.opts.loadStack({ file: req.file, environment: req.environment }));
      await this.checkPublishedPorts(stack);
      this.opts.ownership.claim(req.environment);
      progress(
        `stack ${stack.name} (${stack.file}), environment ${stack.environment}: ${stack.services.length} services, ${stack.databases.length} databases`,
      );
      const controller = this.controller(req.environment);
      const firewall = this.firewall(req.environment);
      // Everything that can refuse the deploy runs before anything changes.
      const filePolicies = await FirewallManager.readPolicyFolder(stack);
      const allocation = await controller.previewAllocation(stack);
      await firewall.checkDeploy(firewallContext(stack, allocation), filePolicies);
      if (filePolicies.length)
        progress(`firewall: ${filePolicies.length} NetworkPolicies from ${join(stack.dir, 'policies')}`);
      try {
        await controller.up(stack, {
          clientEnv: req.clientEnv,
          progress,
          beforeStart: async (a) => {
            await firewall.update(firewallContext(stack, a), filePolicies);
            progress(`firewall: ${describeModes(firewall.getModes())}`);
            const plan = controller.currentPlan();
            await this.environmentReady({ environment: req.environment, stack, allocation: a, plan });
          },
        });
      } finally {
        this.watchLogs(controller);
      }
      await this.refreshDiscovery(req.environment);
    });
  }

  /** The environment's firewall (policies, modes, learning, alerts, compliance). */
  firewall(environment: string): FirewallManager {
    let f = this.firewalls.get(environment);
    if (!f) {
      f = new FirewallManager({
        environment,
        exec: this.opts.exec,
        store: this.opts.store,
        clock: this.opts.clock,
        captureFlows: this.opts.captureFlows,
        emit: (kind, message, data) =>
          this.emit({
            time: this.opts.clock.now(),
            environment,
            kind,
            subject: environment,
            message,
            data: data ?? {},
          }),
      });
      this.firewalls.set(environment, f);
    }
    return f;
  }

  /** Runs a firewall change for a running environment, then re-applies policy-aware discovery. */
  withFirewall<T>(environment: string, fn: (f: FirewallManager) => Promise<T>): Promise<T> {
    return this.serial(environment, async () => {
      this.requireController(environment);
      const result = await fn(this.firewall(environment));
      await this.refreshDiscovery(environment);
      return result;
    });
  }

  /** In protect mode a replica resolves only the services its policy lets it reach. */
  private async refreshDiscovery(environment: string): Promise<void> {
    const c = this.controllers.get(environment);
    const f = this.firewalls.get(environment);
    if (!c || !f) return;
    await c.refreshDiscovery((ns, svc) => f.reachableServices(ns, svc));
  }

  down(req: { environment: string }, progress: Progress): Promise<void> {
    return this.serial(req.environment, async () => {
      const controller = this.controllers.get(req.environment);
      const deployment = await this.opts.store.getDeployment(req.environment);
      if (!controller && !deployment) {
        // Nothing known: still sweep kernel objects a crashed run may have left for this environment,
        // unless another daemon's state directory owns it.
        this.opts.ownership.claim(req.environment);
        await this.opts.runtime.destroyEnvironment(req.environment);
        this.opts.ownership.release(req.environment);
        progress(`environment ${req.environment}: nothing running`);
        return;
      }
      const c = controller ?? this.controller(req.environment);
      if (!controller) await c.adopt();
      for (const r of c.replicas()) await this.journal.unwatch(r.plan);
      await c.down(progress);
      // The environment is gone from the kernel and the store: what follows is bookkeeping around
      // it, each step tried even when an earlier one failed, and the failures reported together.
      const { attempt, failed } = attempts();
      for (const w of this.watchers)
        await attempt('forgetting it', () => w.environmentRemoved(req.environment));
      await attempt('removing its firewall', () => this.firewall(req.environment).destroy());
      this.firewalls.delete(req.environment);
      this.controllers.delete(req.environment);
      // Like `docker compose down` removing containers: the replicas' output goes with them.
      await attempt('removing its logs', () =>
        rm(join(this.opts.logDir, req.environment), { recursive: true, force: true }),
      );
      this.opts.ownership.release(req.environment);
      if (failed.length > 0)
        throw new RampartError(
          'RAMPART_E_EXEC_FAILED',
          `environment ${req.environment} is down (its replicas, networks and records are gone), but ${failed.map((f) => `${f.object}: ${f.error}`).join('; ')}; \`rampart down\` again sweeps what is left`,
          { failed },
        );
    });
  }

  restart(
    req: { environment: string; namespace?: string; service: string },
    progress: Progress,
  ): Promise<void> {
    return this.serial(req.environment, () => {
      const c = this.requireController(req.environment);
      return c.restart(req.namespace ?? this.namespaceOf(c, req.service), req.service, progress);
    });
  }

  ps(req: { environment?: string }): ReplicaStatus[] {
    const out: ReplicaStatus[] = [];
    for (const c of this.controllers.values()) {
      if (req.environment && c.environment !== req.environment) continue;
      const plan = c.currentPlan();
      for (const { plan: r, snapshot } of c.replicas()) {
        out.push({
          id: r.id,
          environment: r.environment,
          namespace: r.namespace,
          service: r.service,
          replica: r.index,
          kind: r.kind,
          state: snapshot.state,
          healthy: snapshot.healthy,
          health: r.health
            ? snapshot.healthy
              ? 'healthy'
              : snapshot.state === 'running'
                ? 'unhealthy'
                : '-'
            : 'none',
          addresses: Object.fromEntries(r.attachments.map((a) => [a.net, a.address])),
          vip: plan?.services.find((s) => s.namespace === r.namespace && s.name === r.service)?.vip,
          pid: snapshot.pid,
          restarts: snapshot.restarts,
          netns: r.netns,
        });
      }
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  environments(): string[] {
    return [...this.controllers.keys()].sort();
  }

  /** Effective config of a service, every key with its source; secrets redacted. */
  async config(req: { environment: string; namespace?: string; service: string }): Promise<ConfigEntry[]> {
    const deployment = await this.opts.store.getDeployment(req.environment);
    if (!deployment)
      throw new RampartError('RAMPART_E_NO_STACK', `nothing runs in environment ${req.environment}`);
    const stack = deployment.spec as ResolvedStack;
    const svc = stack.services.find(
      (s) => s.name === req.service && (!req.namespace || s.namespace === req.namespace),
    );
    if (!svc)
      throw new RampartError(
        'RAMPART_E_NOT_FOUND',
        `no service ${req.service} in environment ${req.environment}`,
      );
    const overlay = await this.overlayKeys(stack, svc.name);
    const entries: ConfigEntry[] = [];
    const variables = renderRcEnv(svc.app, svc.config);
    const flat = flattenConfig(svc.config);
    for (const [key, value] of Object.entries(flat)) {
      const variable = `${svc.app}_${key.replaceAll('.', '__')}`;
      entries.push({
        key,
        variable,
        value: variables[variable] ?? String(value),
        source: overlay.has(key)
          ? `${stack.file}: environments.${stack.environment}.services.${svc.name}.config.${key}`
          : `${stack.file}: services.${svc.name}.config.${key}`,
      });
    }
    for (const ref of svc.secrets) {
      const source = ref.source;
      const from =
        'fromEnv' in source
          ? `env ${source.fromEnv}`
          : 'fromFile' in source
            ? `file ${source.fromFile}`
            : 'generated';
      entries.push({
        key: ref.key.replaceAll('__', '.'),
        variable: `${svc.app}_${ref.key}`,
        value: '***',
        source: `secret (${from}), encrypted at rest`,
      });
    }
    const replica = this.controllers
      .get(req.environment)
      ?.replicas()
      .find((r) => r.plan.service === svc.name && r.plan.namespace === svc.namespace);
    for (const [variable, value] of Object.entries(replica?.plan.env ?? {})) {
      if (variable.startsWith(`${svc.app}_`)) continue;
      const isDb = variable.endsWith('DATABASE_URL');
      const source =
        variable in svc.env
          ? `${stack.file}: services.${svc.name}.env.${variable}`
          : isDb
            ? 'platform: database credentials'
            : 'platform';
      entries.push({
        key: variable,
        variable,
        value: isDb ? value.replace(/:[^:@/]+@/, ':***@') : value,
        source,
      });
    }
    return entries;
  }

  async logs(q: LogQuery): Promise<LogLine[]> {
    return this.journal.query(q, await this.logSources(q.environment));
  }

  onLog(listener: (line: LogLine) => void): () => void {
    return this.journal.onLine(listener);
  }

  emit(event: Omit<EventRecord, 'id'>): void {
    void this.opts.store.appendEvent(event).then(
      (id) => {
        for (const l of this.eventListeners) l({ ...event, id });
      },
      () => undefined,
    );
  }

  onEvent(listener: (e: EventRecord) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  events(q: { environment?: string; afterId?: number; limit?: number }): Promise<EventRecord[]> {
    return this.opts.store.listEvents(q);
  }

  /** Host ports are global: refuse one another environment of this daemon already publishes. */
  private async checkPublishedPorts(stack: ResolvedStack): Promise<void> {
    for (const other of await this.opts.store.listDeployments()) {
      if (other.environment === stack.environment) continue;
      const taken = new Map<string, string>();
      for (const s of (other.spec as ResolvedStack).services) {
        for (const p of s.publish) taken.set(`${p.hostPort}/${p.protocol}`, s.name);
      }
      for (const s of stack.services) {
        for (const [i, p] of s.publish.entries()) {
          const holder = taken.get(`${p.hostPort}/${p.protocol}`);
          if (holder) {
            throw new RampartError(
              'RAMPART_E_CONFLICT',
              `host port ${p.hostPort}/${p.protocol} is already published by ${holder} in environment ${other.environment}`,
              {
                file: stack.file,
                field: `services.${s.name}.publish[${i}].hostPort`,
                fix: `publish another host port, or bring environment ${other.environment} down first`,
              },
            );
          }
        }
      }
    }
  }

  private async logSources(environment: string): Promise<LogSource[]> {
    const c = this.controllers.get(environment);
    if (c) return c.replicas().map((r) => r.plan);
    return [];
  }

  private watchLogs(c: EnvironmentController): void {
    for (const r of c.replicas()) this.journal.watch(r.plan);
  }

  private async overlayKeys(stack: ResolvedStack, service: string): Promise<Set<string>> {
    try {
      const raw = parseYaml(await readFile(stack.file, 'utf8')) as Record<string, any>;
      const config = raw?.environments?.[stack.environment]?.services?.[service]?.config;
      return new Set(config && typeof config === 'object' ? Object.keys(flattenConfig(config)) : []);
    } catch {
      return new Set();
    }
  }

  private namespaceOf(c: EnvironmentController, service: string): string {
    const matches = [
      ...new Set(
        c
          .replicas()
          .filter((r) => r.plan.service === service)
          .map((r) => r.plan.namespace),
      ),
    ];
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0)
      throw new RampartError('RAMPART_E_NOT_FOUND', `no service ${service} in environment ${c.environment}`);
    throw new RampartError(
      'RAMPART_E_BAD_REQUEST',
      `service ${service} exists in namespaces ${matches.join(', ')}`,
      { field: 'namespace', fix: 'pass -n <namespace>' },
    );
  }

  private requireController(environment: string): EnvironmentController {
    const c = this.controllers.get(environment);
    if (!c) throw new RampartError('RAMPART_E_NO_STACK', `nothing runs in environment ${environment}`);
    return c;
  }

  private controller(environment: string): EnvironmentController {
    let c = this.controllers.get(environment);
    if (!c) {
      c = new EnvironmentController({
        environment,
        runtime: this.opts.runtime,
        store: this.opts.store,
        clock: this.opts.clock,
        codec: this.opts.codec,
        databases: this.opts.databases,
        logDir: this.opts.logDir,
        emit: (e) => this.emit(e),
        readyTimeoutMs: this.opts.readyTimeoutMs,
        nodePreloads: this.opts.nodePreloads,
        connectionsOf: this.opts.connectionsOf,
      });
      this.controllers.set(environment, c);
    }
    return c;
  }

  private serial<T>(environment: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(environment) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.queues.set(environment, next);
    return next;
  }
}
