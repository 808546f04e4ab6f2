import { createHash } from 'node:crypto';
import type { Clock } from '../platform/clock.ts';
import { RampartError } from '../platform/errors.ts';
import { canonicalJson } from '../platform/json.ts';
import type { ReplicaSupervisor as Supervisor, SupervisorSnapshot } from '../runtime/index.ts';
import { ReplicaSupervisor } from '../runtime/index.ts';
import type { ReplicaPlan, Runtime, ServiceEndpoints } from '../runtime/index.ts';
import type { ResolvedDatabase, ResolvedStack } from '../stack/index.ts';
import type { EventRecord, ReplicaRecord, Store } from '../store/index.ts';
import { deploySettings, planRollout, slotCount, type Rollout } from '../delivery/index.ts';
import { replicaId } from '../platform/names.ts';
import { allocateNetwork, type NetworkAllocation } from './allocate.ts';
import { memberKey, planEnvironment, type EnvironmentPlan } from './plan.ts';
import type { NodePreloads } from './node-tracing.ts';
import {
  ensureDatabasePasswords,
  resolveSecrets,
  type ClientSecretValues,
  type SecretCodec,
} from './secrets.ts';

/** How the controller runs a managed database engine (implemented over databases/ in the composition root). */
export interface DatabaseEngines {
  /** initdb (once) and access rules, before the server starts. */
  prepare(opts: {
    environment: string;
    db: ResolvedDatabase;
    superuserPassword: string;
    dbSubnet: string;
    users: readonly string[];
  }): Promise<void>;
  command(opts: { environment: string; db: ResolvedDatabase; address: string }): {
    argv: readonly string[];
    user: string;
    cwd: string;
  };
  /** Roles, schemas and grants, once the server answers. Idempotent. */
  provision(opts: {
    environment: string;
    db: ResolvedDatabase;
    address: string;
    superuserPassword: string;
    users: readonly { service: string; password: string }[];
  }): Promise<void>;
}

export interface ControllerOptions {
  environment: string;
  runtime: Runtime;
  store: Store;
  clock: Clock;
  codec: SecretCodec;
  databases: DatabaseEngines;
  logDir: string;
  /** Every event goes here (store + live listeners). */
  emit: (event: Omit<EventRecord, 'id'>) => void;
  /** How long `up` waits for a layer of services to become ready. @default 60000 */
  readyTimeoutMs?: number;
  /**
   * Open connections to a replica's ports and how many carry a request (delivery/drain.ts), for
   * draining during a rolling update; omitted: no wait beyond the load balancer update.
   */
  connectionsOf?: (target: {
    netns: string;
    ports: readonly number[];
  }) => Promise<{ open: number; busy: number; busyPeers?: string[] }>;
  /** Preloads injected into Node services (tracing); omitted: none. */
  nodePreloads?: NodePreloads;
}

export interface Progress {
  (message: string): void;
}

interface Running {
  plan: ReplicaPlan;
  hash: string;
  /** The service's spec (release, config, env) whatever the slot: equal means up to date. */
  specHash: string;
  supervisor: Supervisor;
  /**
   * In the load balancer once healthy. A rolling update starts new replicas unadmitted (traffic never
   * reaches one that fails its health check) and unadmits old ones before draining them.
   */
  admitted: boolean;
}

/** A rolling update that failed; the controller rolled the service back (or tried to). */
interface RolloutFailure {
  service: string;
  reason: string;
}

/** How long endpoint changes gather before one nft transaction applies them all. */
const ENDPOINT_SETTLE_MS = 15;

const hashPlan = (plan: ReplicaPlan): string =>
  createHash('sha256').update(JSON.stringify(plan)).digest('hex');

/**
 * Drives one environment toward its stack: networks, replicas in dependency order, health-based
 * load balancing, databases, and re-adoption after a daemon restart.
 */
export class EnvironmentController {
  private readonly running = new Map<string, Running>();
  private plan: EnvironmentPlan | undefined;
  private allocation: NetworkAllocation | undefined;
  private endpointSync: Promise<void> = Promise.resolve();
  private endpointDirty = false;
  private endpointRunning = false;
  private readonly writes = new Map<string, Promise<void>>();
  /** `<ns>/<name>` -> the spec hash its replicas must have to be up to date (serviceSpecHashes). */
  private specHashes = new Map<string, string>();
  /** Set by `down`: the whole table goes, so replica changes no longer update the load balancer. */
  private tearingDown = false;
  /** `<ns>/<db>` -> its definition (canonical JSON) when this controller last provisioned it. */
  private readonly provisioned = new Map<string, string>();

  constructor(private readonly opts: ControllerOptions) {}

  get environment(): string {
    return this.opts.environment;
  }

  /** Brings the environment to `stack`; resolves when every replica is ready, throws if one is not in time. */
  /** Pure-ish: the addresses a stack would get (kept from the stored deployment), without changing anything. */
  async previewAllocation(stack: ResolvedStack): Promise<NetworkAllocation> {
    const { store, runtime } = this.opts;
    const previous = await store.getDeployment(stack.environment);
    const others = (await store.listDeployments()).filter((d) => d.environment !== stack.environment);
    return allocateNetwork({
      stack,
      previous: previous?.network as NetworkAllocation | undefined,
      // Other environments' blocks, and whatever the host already routes (other daemons' bridges, LANs).
      usedBlocks: previous
        ? []
        : [...others.map((d) => (d.network as NetworkAllocation).block), ...(await runtime.hostNetworks())],
    });
  }

  async up(
    stack: ResolvedStack,
    opts: {
      clientEnv: ClientSecretValues;
      progress: Progress;
      /** Runs once the environment's network exists and before any replica starts (the firewall). */
      beforeStart?: (allocation: NetworkAllocation) => Promise<void>;
    },
  ): Promise<void> {
    const { store, runtime, clock, codec } = this.opts;
    const progress = opts.progress;
    const previousStack = (await store.getDeployment(stack.environment))?.spec as ResolvedStack | undefined;
    let allocation = await this.previewAllocation(stack);
    const secrets = await resolveSecrets({
      stack,
      store,
      codec,
      clientEnv: opts.clientEnv,
      now: clock.now(),
    });
    const passwords = await ensureDatabasePasswords({ stack, store, codec, now: clock.now() });
    const planFor = (s: ResolvedStack, a: NetworkAllocation): EnvironmentPlan =>
      planEnvironment({
        stack: s,
        allocation: a,
        secrets,
        databasePasswords: passwords.users,
        logDir: this.opts.logDir,
        databaseCommand: (db, address) =>
          this.opts.databases.command({ environment: s.environment, db, address }),
        nodePreloads: this.opts.nodePreloads,
      });
    // Services with live replicas are updated by a rolling update (their slots move); the rest start.
    const specHashes = serviceSpecHashes(stack, allocation, planFor);
    const rollouts = this.planRollouts(stack, specHashes);
    allocation = {
      ...allocation,
      slots: {
        ...allocation.slots,
        ...Object.fromEntries([...rollouts].map(([key, r]) => [key, r.final])),
      },
    };
    const plan = planFor(stack, allocation);
    this.specHashes = specHashes;
    await store.putDeployment(
      { environment: stack.environment, stackFile: stack.file, spec: stack, network: allocation },
      clock.now(),
    );
    this.plan = plan;
    this.allocation = allocation;

    progress(`network ${allocation.block}: bridges and load balancer`);
    await runtime.ensureEnvironment(this.networkSpec());
    await this.syncEndpoints();
    if (opts.beforeStart) await opts.beforeStart(allocation);

    // Replicas the new plan no longer has (scaled down, removed) go first; rolled services retire theirs.
    const wanted = new Set(plan.replicas.map((r) => r.id));
    for (const [id, run] of [...this.running]) {
      if (rollouts.has(memberKey(run.plan.namespace, run.plan.service))) continue;
      if (!wanted.has(id)) {
        progress(`${id}: removing`);
        await this.stopReplica(run, true);
      }
    }

    // A database that keeps running as it was (a deploy of services only) has nothing to prepare or
    // provision: its data, access rules and roles are those of the up that started it.
    const settled = settledDatabases({
      stack,
      provisioned: this.provisioned,
      replicas: plan.replicas,
      live: (plan) => {
        const run = this.running.get(plan.id);
        return run !== undefined && isLive(run) && run.hash === hashPlan(plan);
      },
    });
    const done = new Set<string>();
    for (const layer of plan.layers) {
      const replicas = plan.replicas.filter(
        (r) =>
          layer.includes(memberKey(r.namespace, r.service)) &&
          !rollouts.has(memberKey(r.namespace, r.service)),
      );
      for (const member of layer) {
        const db = stack.databases.find((d) => memberKey(d.namespace, d.name) === member);
        if (db && !settled.has(member)) {
          progress(`${member}: preparing ${db.engine} data`);
          await this.opts.databases.prepare({
            environment: stack.environment,
            db,
            superuserPassword: passwords.superuser[db.name] ?? '',
            dbSubnet: allocation.addressing.db.subnet,
            users: db.users,
          });
        }
      }
      await this.ensureReplicas(replicas, progress);
      progress(`waiting for ${layer.join(', ')} to be ready`);
      await this.waitReady(replicas);
      const rolling = layer.filter((key) => (rollouts.get(key)?.steps.length ?? 0) > 0);
      const failures = (
        await Promise.all(
          rolling.map((key) =>
            this.rollService(key, rollouts.get(key)!, plan, stack, progress).then(
              () => undefined,
              (error: Error): RolloutFailure => ({ service: key, reason: error.message }),
            ),
          ),
        )
      ).filter((f): f is RolloutFailure => f !== undefined);
      for (const key of layer) if (!failures.some((f) => f.service === key)) done.add(key);
      if (failures.length > 0) {
        await this.rollBack({ failures, stack, previousStack, done, allocation, planFor, progress });
        const what = failures.map((f) => `${f.service} (${f.reason})`).join('; ');
        throw new RampartError(
          'RAMPART_E_ROLLED_BACK',
          `rolled back: ${what}; the previous release serves traffic`,
          { services: failures.map((f) => f.service) },
        );
      }
      // Dependents of this layer must find these replicas behind their VIPs when they start.
      await this.syncEndpoints();
      for (const member of layer) {
        const db = stack.databases.find((d) => memberKey(d.namespace, d.name) === member);
        if (!db || settled.has(member)) continue;
        const address =
          plan.replicas.find((r) => r.kind === 'database' && r.service === db.name)?.attachments[0]
            ?.address ?? '';
        progress(`${member}: provisioning roles and schemas for ${db.users.join(', ') || 'nobody'}`);
        await this.opts.databases.provision({
          environment: stack.environment,
          db,
          address,
          superuserPassword: passwords.superuser[db.name] ?? '',
          users: db.users.map((service) => ({
            service,
            password: passwords.users[db.name]?.[service] ?? '',
          })),
        });
        this.provisioned.set(member, canonicalJson(db));
      }
    }
    this.opts.emit({
      time: clock.now(),
      environment: stack.environment,
      kind: 'stack.up',
      subject: stack.name,
      message: `stack ${stack.name} is up`,
      data: {},
    });
  }

  /**
   * After a daemon restart: rebuild the plan from the stored deployment and take over every replica
   * whose process is still alive, without restarting it. Dead ones are started again.
   */
  async adopt(): Promise<{ adopted: number; restarted: number }> {
    const { store, runtime, clock } = this.opts;
    const deployment = await store.getDeployment(this.environment);
    if (!deployment) return { adopted: 0, restarted: 0 };
    const stack = deployment.spec as ResolvedStack;
    const allocation = deployment.network as NetworkAllocation;
    const secrets = await resolveSecrets({
      stack,
      store,
      codec: this.opts.codec,
      clientEnv: {},
      now: clock.now(),
    });
    const passwords = await ensureDatabasePasswords({
      stack,
      store,
      codec: this.opts.codec,
      now: clock.now(),
    });
    this.allocation = allocation;
    const planFor = (s: ResolvedStack, a: NetworkAllocation): EnvironmentPlan =>
      planEnvironment({
        stack: s,
        allocation: a,
        secrets,
        databasePasswords: passwords.users,
        logDir: this.opts.logDir,
        databaseCommand: (db, address) =>
          this.opts.databases.command({ environment: s.environment, db, address }),
        nodePreloads: this.opts.nodePreloads,
      });
    this.plan = planFor(stack, allocation);
    this.specHashes = serviceSpecHashes(stack, allocation, planFor);
    await runtime.ensureEnvironment(this.networkSpec());
    const records = new Map(
      (await store.listReplicas(this.environment)).map((r) => [`${r.namespace}/${r.service}-${r.index}`, r]),
    );
    let adopted = 0;
    let restarted = 0;
    const dead: { plan: ReplicaPlan; supervisor: ReplicaSupervisor }[] = [];
    for (const plan of this.plan.replicas) {
      const record = records.get(plan.id);
      const proc =
        record?.pid && record.pidStartTime
          ? runtime.adoptProcess(plan, record.pid, record.pidStartTime)
          : undefined;
      const supervisor = this.makeSupervisor(plan);
      this.running.set(plan.id, this.entry(plan, supervisor));
      if (proc && record) {
        supervisor.adopt(proc, { restarts: record.restarts, healthy: record.healthy });
        adopted += 1;
      } else if (record && record.state !== 'stopped') {
        dead.push({ plan, supervisor });
      }
    }
    if (dead.length > 0) {
      await runtime.prepareReplicas(dead.map((d) => d.plan));
      for (const d of dead) d.supervisor.start();
      restarted = dead.length;
    }
    await this.syncEndpoints();
    return { adopted, restarted };
  }

  /** Stops every replica gracefully and removes everything the environment made. Data directories stay. */
  async down(progress: Progress): Promise<void> {
    const { store, runtime, clock } = this.opts;
    const layers = this.plan?.layers ?? [];
    this.tearingDown = true;
    await this.endpointSync;
    // Reverse start order: dependents stop before what they depend on.
    const order = [...layers].reverse();
    for (const layer of order) {
      const runs = [...this.running.values()].filter((r) =>
        layer.includes(memberKey(r.plan.namespace, r.plan.service)),
      );
      if (runs.length) progress(`stopping ${layer.join(', ')}`);
      await Promise.all(runs.map((r) => r.supervisor.stop()));
    }
    await Promise.all([...this.running.values()].map((r) => r.supervisor.stop()));
    await Promise.all(this.writes.values());
    // Everything at once: the environment is going away, so no per-replica load-balancer updates.
    try {
      await runtime.removeReplicas([...this.running.values()].map((r) => r.plan));
    } catch (error) {
      // Not fatal: removing the environment below takes every namespace, link and rule of its
      // replicas with it. Only a failure there leaves the environment recorded, for another `down`.
      progress(
        `removing the replicas one by one failed (${(error as Error).message}); removing the whole environment`,
      );
    }
    this.running.clear();
    this.provisioned.clear();
    progress('removing networks and load balancer');
    await runtime.destroyEnvironment(this.environment);
    await store.deleteReplicas(this.environment);
    await store.deleteDeployment(this.environment);
    this.plan = undefined;
    this.opts.emit({
      time: clock.now(),
      environment: this.environment,
      kind: 'stack.down',
      subject: this.environment,
      message: 'environment removed',
      data: {},
    });
  }

  /** Restarts a service's replicas one at a time, waiting for each to be ready. */
  async restart(namespace: string, service: string, progress: Progress): Promise<void> {
    const runs = [...this.running.values()].filter(
      (r) => r.plan.namespace === namespace && r.plan.service === service,
    );
    if (runs.length === 0)
      throw new RampartError(
        'RAMPART_E_NOT_FOUND',
        `no service ${namespace}/${service} in environment ${this.environment}`,
      );
    for (const run of runs) {
      progress(`${run.plan.id}: restarting`);
      await this.stopReplica(run, false);
      await this.ensureReplicas([run.plan], progress);
      await this.waitReady([run.plan]);
      await this.syncEndpoints();
    }
  }

  /** Live view for `ps`. */
  replicas(): { plan: ReplicaPlan; snapshot: SupervisorSnapshot }[] {
    return [...this.running.values()].map((r) => ({ plan: r.plan, snapshot: r.supervisor.snapshot() }));
  }

  currentAllocation(): NetworkAllocation | undefined {
    return this.allocation;
  }

  /**
   * Rewrites every replica's hosts file, keeping only the members `allowed` returns for its
   * service (undefined: all it can reach). Policy-aware discovery in protect mode.
   */
  async refreshDiscovery(
    allowed: (namespace: string, service: string) => Set<string> | undefined,
  ): Promise<void> {
    for (const run of this.running.values()) {
      const only = allowed(run.plan.namespace, run.plan.service);
      const hosts = only
        ? run.plan.hosts.filter((h) =>
            h.names.some((n) => n.includes('.') && only.has(n.split('.').reverse().join('/'))),
          )
        : run.plan.hosts;
      await this.opts.runtime.updateHosts(run.plan, hosts);
    }
  }

  currentPlan(): EnvironmentPlan | undefined {
    return this.plan;
  }

  /** Stops supervising without stopping processes (daemon shutdown: replicas keep running). */
  detach(): Promise<void> {
    for (const run of this.running.values()) run.supervisor.detach();
    return Promise.all(this.writes.values()).then(() => undefined);
  }

  private networkSpec() {
    if (!this.allocation) throw new Error('no allocation');
    return { environment: this.environment, addressing: this.allocation.addressing };
  }

  /**
   * Starts what is not running as planned: unchanged live replicas are kept, changed ones replaced;
   * the networks of all that start are prepared in one runtime call.
   */
  private async ensureReplicas(plans: readonly ReplicaPlan[], progress: Progress): Promise<void> {
    const start: ReplicaPlan[] = [];
    const replaced: Running[] = [];
    for (const plan of plans) {
      const existing = this.running.get(plan.id);
      const state = existing?.supervisor.snapshot().state;
      const live = state === 'running' || state === 'starting' || state === 'backoff';
      if (existing && existing.hash === hashPlan(plan) && live) continue;
      if (existing && existing.hash !== hashPlan(plan)) progress(`${plan.id}: spec changed, replacing`);
      if (existing && live) replaced.push(existing);
      start.push(plan);
    }
    await Promise.all(replaced.map((r) => this.stopReplica(r, false)));
    if (start.length === 0) return;
    for (const plan of start) {
      progress(`${plan.id}: starting (${plan.attachments.map((a) => `${a.net} ${a.address}`).join(', ')})`);
    }
    await this.opts.runtime.prepareReplicas(start);
    for (const plan of start) {
      const supervisor = this.makeSupervisor(plan);
      this.running.set(plan.id, this.entry(plan, supervisor));
      supervisor.start();
    }
  }

  private makeSupervisor(plan: ReplicaPlan): ReplicaSupervisor {
    return new ReplicaSupervisor({
      id: plan.id,
      clock: this.opts.clock,
      launch: () => this.opts.runtime.startProcess(plan),
      address: plan.attachments[0]?.address ?? '127.0.0.1',
      health: plan.health,
      stopTimeoutMs: plan.stopTimeoutMs,
      onChange: (snapshot, cause) => this.onReplicaChange(plan, snapshot, cause),
    });
  }

  private onReplicaChange(
    plan: ReplicaPlan,
    snapshot: SupervisorSnapshot,
    cause: { kind: string; message: string },
  ): void {
    const record: ReplicaRecord = {
      environment: plan.environment,
      namespace: plan.namespace,
      service: plan.service,
      index: plan.index,
      state: snapshot.state,
      healthy: snapshot.healthy,
      pid: snapshot.pid,
      pidStartTime: snapshot.pidStartTime,
      restarts: snapshot.restarts,
      addresses: Object.fromEntries(plan.attachments.map((a) => [a.net, a.address])),
      netns: plan.netns,
      logFile: plan.stdoutFile,
      updatedAt: this.opts.clock.now(),
    };
    // Writes for one replica are serialised so the store always ends with the latest snapshot.
    const previous = this.writes.get(plan.id) ?? Promise.resolve();
    this.writes.set(
      plan.id,
      previous.then(() => this.opts.store.putReplica(record)).catch(() => undefined),
    );
    this.opts.emit({
      time: this.opts.clock.now(),
      environment: plan.environment,
      kind: cause.kind === 'health' ? 'replica.health' : 'replica.transition',
      subject: plan.id,
      message: cause.message,
      data: {
        state: snapshot.state,
        healthy: snapshot.healthy,
        pid: snapshot.pid,
        restarts: snapshot.restarts,
      },
    });
    void this.syncEndpoints();
  }

  /**
   * Pushes the healthy endpoints to the kernel. Calls coalesce: while one update runs, further
   * changes mark it dirty and one more update follows, so the kernel always ends up current.
   */
  syncEndpoints(): Promise<void> {
    if (this.tearingDown) return Promise.resolve();
    this.endpointDirty = true;
    if (this.endpointRunning) return this.endpointSync;
    this.endpointRunning = true;
    this.endpointSync = (async () => {
      try {
        while (this.endpointDirty) {
          // Replicas of a layer turn healthy within milliseconds of each other: a short settle
          // folds them into one kernel transaction instead of one each.
          await this.opts.clock.sleep(ENDPOINT_SETTLE_MS);
          this.endpointDirty = false;
          if (!this.plan || !this.allocation) return;
          await this.opts.runtime.setEndpoints(this.networkSpec(), this.endpoints());
        }
      } catch (error) {
        this.opts.emit({
          time: this.opts.clock.now(),
          environment: this.environment,
          kind: 'network.error',
          subject: this.environment,
          message: `load balancer update failed: ${(error as Error).message}`,
          data: {},
        });
      } finally {
        this.endpointRunning = false;
      }
    })();
    return this.endpointSync;
  }

  private endpoints(): ServiceEndpoints[] {
    const plan = this.plan;
    if (!plan) return [];
    return plan.services.map((svc) => {
      const endpoints = [...this.running.values()]
        .filter(
          (r) =>
            r.plan.namespace === svc.namespace &&
            r.plan.service === svc.name &&
            r.admitted &&
            r.supervisor.healthy,
        )
        .sort((a, b) => a.plan.index - b.plan.index)
        .map((r) => r.plan.attachments.find((a) => a.net === svc.network)?.address)
        .filter((a): a is string => a !== undefined);
      return { ...svc, endpoints };
    });
  }

  private async stopReplica(run: Running, remove: boolean): Promise<void> {
    await run.supervisor.stop();
    await this.writes.get(run.plan.id);
    await this.opts.runtime.removeReplicas([run.plan]);
    if (remove) {
      this.running.delete(run.plan.id);
      await this.opts.store.deleteReplica({
        environment: run.plan.environment,
        namespace: run.plan.namespace,
        service: run.plan.service,
        index: run.plan.index,
      });
    }
    await this.syncEndpoints();
  }

  private entry(plan: ReplicaPlan, supervisor: Supervisor, admitted = true): Running {
    const specHash = this.specHashes.get(memberKey(plan.namespace, plan.service)) ?? hashPlan(plan);
    return { plan, hash: hashPlan(plan), specHash, supervisor, admitted };
  }

  /** Pure over the live replicas: a rollout for every service that has live replicas. */
  private planRollouts(stack: ResolvedStack, specHashes: Map<string, string>): Map<string, Rollout> {
    const rollouts = new Map<string, Rollout>();
    for (const s of stack.services) {
      const key = memberKey(s.namespace, s.name);
      const live = [...this.running.values()].filter(
        (r) => r.plan.namespace === s.namespace && r.plan.service === s.name && isLive(r),
      );
      if (live.length === 0) continue;
      const d = deploySettings(s);
      rollouts.set(
        key,
        planRollout({
          current: live.map((r) => ({ slot: r.plan.index, upToDate: r.specHash === specHashes.get(key) })),
          replicas: s.replicas,
          maxSurge: d.maxSurge,
          maxUnavailable: d.maxUnavailable,
          slotCount: slotCount(s),
        }),
      );
    }
    return rollouts;
  }

  /**
   * One service's rolling update: new replicas start outside the load balancer and join it only once
   * healthy; old ones leave it, drain, then get SIGTERM. Throws (new replicas removed, never having
   * had traffic) when a new replica is not healthy within the service's health timeout.
   */
  private async rollService(
    key: string,
    rollout: Rollout,
    plan: EnvironmentPlan,
    stack: ResolvedStack,
    progress: Progress,
  ): Promise<void> {
    const svc = stack.services.find((s) => memberKey(s.namespace, s.name) === key);
    if (!svc) throw new Error(`bug: no service ${key}`);
    const d = deploySettings(svc);
    const vip = plan.services.find((s) => memberKey(s.namespace, s.name) === key)?.vip ?? '?';
    for (const step of rollout.steps) {
      if (step.kind === 'start') {
        const plans = step.slots.map((slot) => {
          const p = plan.replicas.find(
            (r) => r.namespace === svc.namespace && r.service === svc.name && r.index === slot,
          );
          if (!p) throw new Error(`bug: slot ${slot} of ${key} is not planned`);
          return p;
        });
        const ids = plans.map((p) => p.id).join(', ');
        for (const p of plans) {
          const stale = this.running.get(p.id);
          if (stale) await this.stopReplica(stale, true);
        }
        progress(`${ids}: starting the new release (outside ${vip} until healthy)`);
        await this.opts.runtime.prepareReplicas(plans);
        for (const p of plans) {
          const supervisor = this.makeSupervisor(p);
          this.running.set(p.id, this.entry(p, supervisor, false));
          supervisor.start();
        }
        try {
          await this.waitReady(plans, d.healthTimeoutMs, false, true);
        } catch (error) {
          progress(`${ids}: not healthy in ${d.healthTimeoutMs} ms; removing it (it never had traffic)`);
          await Promise.all(
            plans.map((p) => {
              const run = this.running.get(p.id);
              return run ? this.stopReplica(run, true) : undefined;
            }),
          );
          throw error;
        }
        for (const p of plans) {
          const run = this.running.get(p.id);
          if (run) run.admitted = true;
        }
        await this.syncEndpoints();
        progress(`${ids}: healthy, added to ${vip}`);
      } else {
        const runs = step.slots
          .map((slot) => this.running.get(replicaId(svc.namespace, svc.name, slot)))
          .filter((r): r is Running => r !== undefined);
        if (runs.length === 0) continue;
        const ids = runs.map((r) => r.plan.id).join(', ');
        for (const r of runs) r.admitted = false;
        await this.syncEndpoints();
        progress(`${ids}: out of ${vip}, draining (at most ${d.drainTimeoutMs} ms)`);
        const tcpPorts = svc.ports.filter((p) => p.protocol === 'TCP').map((p) => p.port);
        const left = await this.drain(runs, tcpPorts, d.drainTimeoutMs);
        const state =
          left.open === 0
            ? 'drained'
            : left.busy === 0
              ? `drained (${left.open} idle keep-alive connections close on SIGTERM)`
              : `${left.busy} connections still busy at the timeout (from ${left.busyPeers?.join(', ')})`;
        progress(`${ids}: ${state}, stopping`);
        await Promise.all(runs.map((r) => this.stopReplica(r, true)));
      }
    }
  }

  /**
   * Waits until no connection to the replicas' ports carries a request (idle keep-alive connections
   * do not hold the drain: the service closes them on SIGTERM and a client resends on a fresh one),
   * or the timeout; returns what is left.
   */
  private async drain(
    runs: readonly Running[],
    ports: readonly number[],
    timeoutMs: number,
  ): Promise<{ open: number; busy: number; busyPeers?: string[] }> {
    const count = this.opts.connectionsOf;
    if (!count || ports.length === 0) return { open: 0, busy: 0 };
    const deadline = this.opts.clock.now() + timeoutMs;
    for (;;) {
      const counts = await Promise.all(
        runs.map((r) =>
          count({ netns: r.plan.netns, ports }).catch(
            (): { open: number; busy: number; busyPeers?: string[] } => ({ open: 0, busy: 0 }),
          ),
        ),
      );
      const left = {
        open: counts.reduce((n, c) => n + c.open, 0),
        busy: counts.reduce((n, c) => n + c.busy, 0),
        busyPeers: counts.flatMap((c) => c.busyPeers ?? []),
      };
      if (left.busy === 0 || this.opts.clock.now() >= deadline) return left;
      await this.opts.clock.sleep(50);
    }
  }

  /**
   * After a failed rolling update: every service not (fully) updated goes back to its previous spec
   * by the same rolling update (replicas still on the previous release stay), and the stored
   * deployment says what runs. A service that did not exist before is removed.
   */
  private async rollBack(opts: {
    failures: readonly RolloutFailure[];
    stack: ResolvedStack;
    previousStack: ResolvedStack | undefined;
    done: ReadonlySet<string>;
    allocation: NetworkAllocation;
    planFor: (s: ResolvedStack, a: NetworkAllocation) => EnvironmentPlan;
    progress: Progress;
  }): Promise<void> {
    const { stack, previousStack, done, progress } = opts;
    const keyOf = (s: { namespace: string; name: string }) => memberKey(s.namespace, s.name);
    const services = stack.services.flatMap((s) => {
      if (done.has(keyOf(s))) return [s];
      const before = previousStack?.services.find((p) => keyOf(p) === keyOf(s));
      return before ? [before] : [];
    });
    const reverted: ResolvedStack = { ...stack, services };
    const specHashes = serviceSpecHashes(reverted, opts.allocation, opts.planFor);
    this.specHashes = new Map([...this.specHashes, ...specHashes]);
    const rollouts = this.planRollouts(reverted, specHashes);
    const allocation: NetworkAllocation = {
      ...opts.allocation,
      slots: {
        ...opts.allocation.slots,
        ...Object.fromEntries([...rollouts].map(([key, r]) => [key, r.final])),
      },
    };
    const plan = opts.planFor(reverted, allocation);
    this.plan = plan;
    this.allocation = allocation;
    for (const f of opts.failures) {
      progress(`${f.service}: rolling back to the previous release`);
      this.opts.emit({
        time: this.opts.clock.now(),
        environment: this.environment,
        kind: 'deploy.rollback',
        subject: f.service,
        message: `rolling back ${f.service}: ${f.reason}`,
        data: { reason: f.reason },
      });
    }
    for (const [key, rollout] of rollouts) {
      if (rollout.steps.length > 0) await this.rollService(key, rollout, plan, reverted, progress);
    }
    // Replicas of services that did not exist before the failed deploy.
    const wanted = new Set(plan.replicas.map((r) => r.id));
    for (const run of [...this.running.values()]) {
      if (
        !wanted.has(run.plan.id) &&
        !rollouts.has(keyOf({ namespace: run.plan.namespace, name: run.plan.service }))
      )
        await this.stopReplica(run, true);
    }
    await this.opts.store.putDeployment(
      { environment: reverted.environment, stackFile: reverted.file, spec: reverted, network: allocation },
      this.opts.clock.now(),
    );
  }

  private async waitReady(
    replicas: readonly ReplicaPlan[],
    timeoutMs?: number,
    withStartPeriod = true,
    /** Give up at the first exit instead of waiting for the deadline (a new release that crashes). */
    failOnExit = false,
  ): Promise<void> {
    // A service that declares a long start period (a database seeding itself) gets it on top.
    const startPeriod = withStartPeriod
      ? Math.max(0, ...replicas.map((r) => r.health?.startPeriodMs ?? 0))
      : 0;
    const deadline = this.opts.clock.now() + (timeoutMs ?? this.opts.readyTimeoutMs ?? 60_000) + startPeriod;
    for (;;) {
      const pending = replicas.filter((r) => !this.running.get(r.id)?.supervisor.healthy);
      if (pending.length === 0) return;
      const crashed =
        failOnExit && pending.some((r) => this.running.get(r.id)?.supervisor.snapshot().lastExit);
      if (crashed || this.opts.clock.now() > deadline) {
        const detail = pending
          .map((r) => {
            const s = this.running.get(r.id)?.supervisor.snapshot();
            return `${r.id}: ${s?.state ?? 'missing'}${s?.healthDetail ? ` (${s.healthDetail})` : ''}${s?.lastExit ? `, last exit ${s.lastExit.signal ?? s.lastExit.code}` : ''}`;
          })
          .join('; ');
        throw new RampartError(
          'RAMPART_E_UNHEALTHY',
          `${crashed ? 'exited before it was ready' : 'not ready in time'}: ${detail}`,
          {
            replicas: pending.map((r) => r.id),
          },
        );
      }
      await this.opts.clock.sleep(50);
    }
  }
}

/**
 * The databases (`<ns>/<name>`) an `up` need neither prepare nor provision (a deploy of services
 * only): provisioned by this controller with exactly this definition, and every replica of theirs
 * live with the very plan it would get now. After a daemon restart nothing is settled, so the first
 * `up` provisions again (it is idempotent). Pure.
 */
export function settledDatabases(opts: {
  stack: ResolvedStack;
  /** `<ns>/<db>` -> canonical JSON of the definition last provisioned. */
  provisioned: ReadonlyMap<string, string>;
  replicas: readonly ReplicaPlan[];
  live: (plan: ReplicaPlan) => boolean;
}): Set<string> {
  const settled = new Set<string>();
  for (const db of opts.stack.databases) {
    const key = memberKey(db.namespace, db.name);
    if (opts.provisioned.get(key) !== canonicalJson(db)) continue;
    const replicas = opts.replicas.filter(
      (r) => r.kind === 'database' && r.namespace === db.namespace && r.service === db.name,
    );
    if (replicas.length > 0 && replicas.every(opts.live)) settled.add(key);
  }
  return settled;
}

function isLive(r: Running): boolean {
  const state = r.supervisor.snapshot().state;
  return state === 'running' || state === 'starting' || state === 'backoff';
}

/**
 * The spec hash of every service and database: each planned once in slot 0, so that two replicas
 * of one spec hash alike whatever slot they run in (their plans differ by address, netns, index).
 */
function serviceSpecHashes(
  stack: ResolvedStack,
  allocation: NetworkAllocation,
  planFor: (s: ResolvedStack, a: NetworkAllocation) => EnvironmentPlan,
): Map<string, string> {
  const services = stack.services
    .filter((s) => allocation.replicas[replicaId(s.namespace, s.name, 0)])
    .map((s) => ({ ...s, replicas: 1 }));
  const slots = Object.fromEntries(services.map((s) => [memberKey(s.namespace, s.name), [0]]));
  const plan = planFor({ ...stack, services }, { ...allocation, slots });
  return new Map(plan.replicas.map((r) => [memberKey(r.namespace, r.service), hashPlan(r)]));
}
