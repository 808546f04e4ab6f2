/**
 * The resolved, frozen form of a stack file for one environment. The parser turns `rampart.yaml`
 * (plus the environment's overlay) into this; every other capability takes a slice of it.
 * Durations are milliseconds, paths are absolute, defaults are filled in.
 */
import type { ResolvedCi } from './ci.ts';

export type NetworkName = 'app' | 'db';
export type Protocol = 'TCP' | 'UDP';

export interface ResolvedPort {
  name: string;
  port: number;
  protocol: Protocol;
}

export interface ResolvedHealthCheck {
  /** HTTP GET of `path` on `port`; 2xx/3xx is healthy. */
  http?: { path: string; port: number };
  /** A TCP connect to `port` is healthy. */
  tcp?: { port: number };
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive successes that make a replica healthy. @default 1 */
  healthyThreshold: number;
  /** Consecutive failures that make a replica unhealthy. @default 3 */
  unhealthyThreshold: number;
  /** Time after start during which failures do not count. @default 0 */
  startPeriodMs: number;
}

export interface ResolvedSecretRef {
  /** Key under which the secret reaches the service (an rc key, `__` for nesting). */
  key: string;
  /** Where the value comes from when the stack is brought up. */
  source: { fromEnv: string } | { fromFile: string } | { generate: number };
}

export interface ResolvedPublish {
  /** Host port on 127.0.0.1 and the host's other addresses. */
  hostPort: number;
  /** The service's port it forwards to. */
  port: number;
  protocol: Protocol;
}

export interface ResolvedService {
  name: string;
  /** Kubernetes-like namespace; defaults to the environment name. */
  namespace: string;
  /** Name under which `rc` reads the config (`<app>_<key>` env vars). @default the service name */
  app: string;
  command: readonly string[];
  /** Absolute working directory (the service's code directory). */
  workdir: string;
  replicas: number;
  ports: readonly ResolvedPort[];
  networks: readonly NetworkName[];
  labels: Readonly<Record<string, string>>;
  health?: ResolvedHealthCheck;
  env: Readonly<Record<string, string>>;
  /** The config tree, already merged with the environment overlay. */
  config: Readonly<Record<string, unknown>>;
  secrets: readonly ResolvedSecretRef[];
  data: { reads: readonly string[]; emits: readonly string[] };
  publish: readonly ResolvedPublish[];
  /** Services and databases that must be ready before this one starts. */
  dependsOn: readonly string[];
  /** Databases this service may use (it gets a role, a schema and DATABASE_URL). */
  databases: readonly string[];
  stopTimeoutMs: number;
  /** The CI pipeline Rampart triggers to fix a vulnerability (docs/vulnerabilities.md). */
  ci?: ResolvedCi;
  /** `false` when the stack opts the service out of injected tracing. @default true */
  tracing?: boolean;
  /**
   * The immutable release the service runs from, once the control plane made it (delivery/):
   * `workdir` then points inside the release and `source` is the folder it was copied from.
   */
  release?: { id: string; source: string; dir: string };
  /** Rolling update settings, when the stack has a `deploy:` block (else the defaults of ResolvedDeploy). */
  deploy?: ResolvedDeploy;
  /** Where this service came from, for error messages. */
  source: { file: string; line: number };
}

/** How a new release replaces the running one (docs/delivery.md). */
export interface ResolvedDeploy {
  /** Replicas started above `replicas` during an update. @default 1 */
  maxSurge: number;
  /** Replicas that may be out of the load balancer during an update. @default 0 */
  maxUnavailable: number;
  /** How long a replica taken out of the load balancer keeps its connections before SIGTERM. @default 10000 */
  drainTimeoutMs: number;
  /** A new replica not healthy this long after its start period rolls the update back. @default 30000 */
  healthTimeoutMs: number;
}

export type DatabaseEngine = 'postgres' | 'cockroachdb';

export interface ResolvedDatabase {
  name: string;
  engine: DatabaseEngine;
  namespace: string;
  /** Services allowed to use it; each gets its own role and schema. */
  users: readonly string[];
  port: number;
  /** PostgreSQL settings for the server (`-c name=value`); empty for other engines. */
  parameters: Readonly<Record<string, string>>;
  source: { file: string; line: number };
}

export interface ResolvedNamespace {
  name: string;
  labels: Readonly<Record<string, string>>;
}

export interface ResolvedStack {
  /** The stack's name (like a compose project name). */
  name: string;
  environment: string;
  /** Absolute path of the stack file. */
  file: string;
  /** Folder of the stack file; relative paths in it are resolved against this. */
  dir: string;
  /** Address range the environment's networks are carved from, if the stack pins one. */
  cidr?: string;
  namespaces: readonly ResolvedNamespace[];
  services: readonly ResolvedService[];
  databases: readonly ResolvedDatabase[];
  /** Pairs of data classes that may never meet in one service (used by the firewall). */
  dataRules: readonly { forbid: readonly [string, string]; reason?: string }[];
}
