import { createHash } from 'node:crypto';
import type { Clock } from '../platform/clock.ts';
import { RampartError } from '../platform/errors.ts';
import type { ReplicaSupervisor as Supervisor, SupervisorSnapshot } from '../runtime/index.ts';
import { ReplicaSupervisor } from '../runtime/index.ts';
import type { ReplicaPlan, Runtime, ServiceEndpoints } from '../runtime/index.ts';
import type { ResolvedDatabase, ResolvedStack } from '../stack/index.ts';
import type { EventRecord, ReplicaRecord, Store } from '../store/index.ts';
import { allocateNetwork, type NetworkAllocation } from './allocate.ts';
import { memberKey, planEnvironment, type EnvironmentPlan } from './plan.ts';
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
}

export interface Progress {
  (message: string): void;
}

interface Running {
  plan: ReplicaPlan;
  hash: string;
  supervisor: Supervisor;
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
  /** Set by `down`: the whole table goes, so replica changes no longer update the load balancer. */
  private tearingDown = false;

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
    const allocation = await this.previewAllocation(stack);
    const secrets = await resolveSecrets({
      stack,
      store,
      codec,
      clientEnv: opts.clientEnv,
      now: clock.now(),
    });
    const passwords = await ensureDatabasePasswords({ stack, store, codec, now: clock.now() });
    const plan = planEnvironment({
      stack,
      allocation,
      secrets,
      databasePasswords: passwords.users,
      logDir: this.opts.logDir,
      databaseCommand: (db, address) =>
        this.opts.databases.command({ environment: stack.environment, db, address }),
    });
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

    // Replicas the new plan no longer has (scaled down, removed) go first.
    const wanted = new Set(plan.replicas.map((r) => r.id));
    for (const [id, run] of this.running) {
      if (!wanted.has(id)) {
        progress(`${id}: removing`);
        await this.stopReplica(run, true);
      }
    }

    for (const layer of plan.layers) {
      const replicas = plan.replicas.filter((r) => layer.includes(memberKey(r.namespace, r.service)));
      for (const member of layer) {
        const db = stack.databases.find((d) => memberKey(d.namespace, d.name) === member);
        if (db) {
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
      // Dependents of this layer must find these replicas behind their VIPs when they start.
      await this.syncEndpoints();
      for (const member of layer) {
        const db = stack.databases.find((d) => memberKey(d.namespace, d.name) === member);
        if (!db) continue;
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
    this.plan = planEnvironment({
      stack,
      allocation,
      secrets,
      databasePasswords: passwords.users,
      logDir: this.opts.logDir,
      databaseCommand: (db, address) =>
        this.opts.databases.command({ environment: stack.environment, db, address }),
    });
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
      this.running.set(plan.id, { plan, hash: hashPlan(plan), supervisor });
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
    await runtime.removeReplicas([...this.running.values()].map((r) => r.plan));
    this.running.clear();
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
      this.running.set(plan.id, { plan, hash: hashPlan(plan), supervisor });
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
          (r) => r.plan.namespace === svc.namespace && r.plan.service === svc.name && r.supervisor.healthy,
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

  private async waitReady(replicas: readonly ReplicaPlan[]): Promise<void> {
    // A service that declares a long start period (a database seeding itself) gets it on top.
    const startPeriod = Math.max(0, ...replicas.map((r) => r.health?.startPeriodMs ?? 0));
    const deadline = this.opts.clock.now() + (this.opts.readyTimeoutMs ?? 60_000) + startPeriod;
    for (;;) {
      const pending = replicas.filter((r) => !this.running.get(r.id)?.supervisor.healthy);
      if (pending.length === 0) return;
      if (this.opts.clock.now() > deadline) {
        const detail = pending
          .map((r) => {
            const s = this.running.get(r.id)?.supervisor.snapshot();
            return `${r.id}: ${s?.state ?? 'missing'}${s?.healthDetail ? ` (${s.healthDetail})` : ''}${s?.lastExit ? `, last exit ${s.lastExit.signal ?? s.lastExit.code}` : ''}`;
          })
          .join('; ');
        throw new RampartError('RAMPART_E_UNHEALTHY', `not ready in time: ${detail}`, {
          replicas: pending.map((r) => r.id),
        });
      }
      await this.opts.clock.sleep(50);
    }
  }
}
