import type { NetworkName, ResolvedHealthCheck } from '../stack/index.ts';
import type { WatchedProcess } from './process.ts';

/** One replica as the runtime must realise it: everything resolved, no lookups left. */
export interface ReplicaPlan {
  environment: string;
  namespace: string;
  /** Service or database name. */
  service: string;
  index: number;
  kind: 'service' | 'database';
  /** `<namespace>/<service>-<index>` */
  id: string;
  /** Network namespace name (names.ts). */
  netns: string;
  /** One address per network the replica is on; the first is the one health checks use. */
  attachments: readonly { net: NetworkName; address: string }[];
  /** The program and its arguments, as the stack file gives them. */
  argv: readonly string[];
  /** Unprivileged OS user the process runs as. */
  user: string;
  cwd: string;
  env: Readonly<Record<string, string>>;
  /** `/etc/hosts` lines for this replica (the names it may resolve). */
  hosts: readonly { address: string; names: readonly string[] }[];
  stdoutFile: string;
  stderrFile: string;
  health?: ResolvedHealthCheck;
  stopTimeoutMs: number;
}

/** The kernel load balancer's input: the healthy endpoints behind each service's virtual IP. */
export interface ServiceEndpoints {
  namespace: string;
  name: string;
  vip: string;
  /** The network the VIP and the endpoints are on. */
  network: NetworkName;
  ports: readonly { port: number; protocol: 'TCP' | 'UDP' }[];
  /** Addresses of healthy replicas, on the VIP's network, in replica order. */
  endpoints: readonly string[];
  publish: readonly { hostPort: number; port: number; protocol: 'TCP' | 'UDP' }[];
}

export interface EnvironmentNetworkSpec {
  environment: string;
  /** The environment's address plan (network/addressing.ts), as stored. */
  addressing: unknown;
}

/** What one requirement check of `rampart doctor` found. */
export interface Requirement {
  name: string;
  ok: boolean;
  detail: string;
  /** The daemon refuses to start without it; others are needed only by some stacks or made on demand. */
  required: boolean;
  /** Debian package that provides it, when `--fix` can install it. */
  package?: string;
  fix?: string;
}

/**
 * Where replicas run. The namespace driver (netns-driver.ts) is the default; Docker Engine and
 * Kubernetes drivers are meant to implement the same contract (runtime.contract.ts).
 */
export interface Runtime {
  readonly driver: string;
  /** Requirements this driver needs on the host, for `rampart doctor` and start-up checks. */
  check(): Promise<Requirement[]>;
  /** Bridges, host sysctls and the environment's (empty) load-balancer table. Idempotent. */
  ensureEnvironment(spec: EnvironmentNetworkSpec): Promise<void>;
  /** Removes everything `ensureEnvironment` and `prepareReplica` made for the environment. */
  destroyEnvironment(environment: string): Promise<void>;
  /** The replicas' isolated networks (namespace, links, routes, hosts file), all at once. Idempotent. */
  prepareReplicas(plans: readonly ReplicaPlan[]): Promise<void>;
  startProcess(plan: ReplicaPlan): Promise<WatchedProcess>;
  /** Rewrites the names a running replica resolves (in place: processes keep the same file). */
  updateHosts(plan: ReplicaPlan, hosts: ReplicaPlan['hosts']): Promise<void>;
  /** Re-attach to a process found alive after a daemon restart, or undefined if it is gone. */
  adoptProcess(plan: ReplicaPlan, pid: number, startTime: number): WatchedProcess | undefined;
  /** Removes the replicas' networks (their processes must be stopped). Absent ones are fine. */
  removeReplicas(plans: readonly ReplicaPlan[]): Promise<void>;
  /** Atomically replaces the environment's service load balancing. */
  setEndpoints(spec: EnvironmentNetworkSpec, services: readonly ServiceEndpoints[]): Promise<void>;
  /** argv that runs `command` inside the replica's isolation, as `user`. */
  execArgv(plan: Pick<ReplicaPlan, 'netns'>, command: readonly string[], user?: string): string[];
  /** IPv4 networks in use on this host (a new environment's block must not overlap them). */
  hostNetworks(): Promise<string[]>;
  /** Environments that have objects on this host (whoever made them). */
  listEnvironments(): Promise<string[]>;
  /** Removes objects of environments not in `keep` (a crashed run's leftovers); reports what it removed. */
  removeLeftovers(
    keep: ReadonlySet<string>,
  ): Promise<{ removed: string[]; failed: { object: string; error: string }[] }>;
}
