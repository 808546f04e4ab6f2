import type { WatchedProcess } from '../runtime/index.ts';
import type {
  EnvironmentNetworkSpec,
  ReplicaPlan,
  Requirement,
  Runtime,
  ServiceEndpoints,
} from '../runtime/index.ts';

interface FakeProcess extends WatchedProcess {
  exit(code: number | null, signal?: string | null): void;
}

/**
 * An in-memory Runtime for unit tests of the controller and the API: no kernel, no processes.
 * It passes the same contract as the namespace driver (runtime.contract.ts), and lets a test see
 * what the kernel would have been told (`endpoints`, `replicas`).
 */
export class FakeRuntime implements Runtime {
  readonly driver = 'fake';
  readonly environments = new Set<string>();
  readonly replicas = new Map<string, ReplicaPlan>();
  readonly processes = new Map<number, FakeProcess>();
  readonly endpoints = new Map<string, readonly ServiceEndpoints[]>();
  private nextPid = 10_000;

  async check(): Promise<Requirement[]> {
    return [{ name: 'fake', ok: true, detail: 'in memory', required: true }];
  }

  async ensureEnvironment(spec: EnvironmentNetworkSpec): Promise<void> {
    this.environments.add(spec.environment);
  }

  async destroyEnvironment(environment: string): Promise<void> {
    this.environments.delete(environment);
    this.endpoints.delete(environment);
    for (const [id, plan] of this.replicas) if (plan.environment === environment) this.replicas.delete(id);
  }

  async prepareReplicas(plans: readonly ReplicaPlan[]): Promise<void> {
    for (const plan of plans) {
      if (!this.environments.has(plan.environment))
        throw new Error(`environment ${plan.environment} has no network yet`);
      this.replicas.set(`${plan.environment}/${plan.id}`, plan);
    }
  }

  async startProcess(plan: ReplicaPlan): Promise<WatchedProcess> {
    if (!this.replicas.has(`${plan.environment}/${plan.id}`))
      throw new Error(`replica ${plan.id} not prepared`);
    const pid = this.nextPid++;
    let done!: (v: { code: number | null; signal: string | null }) => void;
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => (done = r));
    const proc: FakeProcess = {
      pid,
      startTime: pid * 7,
      exited,
      kill: (signal) => proc.exit(null, signal),
      exit: (code, signal = null) => {
        if (!this.processes.has(pid)) return;
        this.processes.delete(pid);
        done({ code, signal });
      },
    };
    this.processes.set(pid, proc);
    return proc;
  }

  readonly hosts = new Map<string, ReplicaPlan['hosts']>();

  async updateHosts(plan: ReplicaPlan, hosts: ReplicaPlan['hosts']): Promise<void> {
    this.hosts.set(`${plan.environment}/${plan.id}`, hosts);
  }

  adoptProcess(_plan: ReplicaPlan, pid: number, startTime: number): WatchedProcess | undefined {
    const p = this.processes.get(pid);
    return p && p.startTime === startTime ? p : undefined;
  }

  async removeReplicas(plans: readonly ReplicaPlan[]): Promise<void> {
    for (const plan of plans) this.replicas.delete(`${plan.environment}/${plan.id}`);
  }

  async setEndpoints(spec: EnvironmentNetworkSpec, services: readonly ServiceEndpoints[]): Promise<void> {
    this.endpoints.set(spec.environment, services);
  }

  execArgv(plan: Pick<ReplicaPlan, 'netns'>, command: readonly string[]): string[] {
    return ['fake-exec', plan.netns, ...command];
  }

  async hostNetworks(): Promise<string[]> {
    return [];
  }

  async listEnvironments(): Promise<string[]> {
    return [...this.environments].sort();
  }

  async removeLeftovers(
    keep: ReadonlySet<string>,
  ): Promise<{ removed: string[]; failed: { object: string; error: string }[] }> {
    const removed = [...this.environments].filter((e) => !keep.has(e));
    for (const e of removed) await this.destroyEnvironment(e);
    return { removed, failed: [] };
  }
}
