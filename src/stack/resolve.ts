import { dirname, resolve as resolvePath } from 'node:path';
import type {
  ResolvedDatabase,
  ResolvedHealthCheck,
  ResolvedNamespace,
  ResolvedSecretRef,
  ResolvedService,
  ResolvedStack,
} from './types.ts';
import { findPort } from './checks.ts';
import { resolveCi } from './ci.ts';
import { isPlainObject } from './problems.ts';
import type { PortRef } from './fields.ts';
import type { ServiceInput } from './schema.ts';
import type { FieldEntry, StackInput } from './validate.ts';

export const DEFAULT_DATABASE_PORTS = { postgres: 5432, cockroachdb: 26257 } as const;

export interface ResolveOptions {
  file: string;
  environment: string;
  /** Line of a section entry's key, for `source.line`. */
  lineOf: (section: 'services' | 'databases', name: string) => number;
}

/**
 * Fills in defaults and applies the environment's overlay. Runs only on a stack that passed every check,
 * so it never reports problems; a missing reference here would be a bug in checks.ts.
 */
export function resolveStack(input: StackInput, opts: ResolveOptions): ResolvedStack {
  const { file, environment } = opts;
  const dir = dirname(file);
  const overlay = input.environments.find((e) => e.name === environment)?.services ?? [];

  const databases: ResolvedDatabase[] = input.databases.map((entry) => {
    const { name, fields: db } = whole(entry);
    return {
      name,
      engine: db.engine,
      namespace: db.namespace ?? environment,
      users: [...new Set(db.users)],
      port: db.port ?? DEFAULT_DATABASE_PORTS[db.engine],
      parameters: db.parameters,
      source: { file, line: opts.lineOf('databases', name) },
    };
  });

  const services: ResolvedService[] = input.services.map((entry) => {
    const { name, fields: s } = whole(entry);
    const own = overlay.find((o) => o.name === name)?.input ?? {};
    const usedDatabases = databases.filter((d) => d.users.includes(name)).map((d) => d.name);
    const health = s.health && resolveHealth(s);
    return {
      name,
      namespace: s.namespace ?? environment,
      app: s.app ?? name,
      command: s.command,
      workdir: s.workdir === undefined ? dir : resolvePath(dir, s.workdir),
      replicas: own.replicas ?? s.replicas,
      ports: s.ports,
      networks: [...new Set(s.networks)],
      labels: { ...s.labels, ...own.labels },
      ...(health && { health }),
      env: { ...s.env, ...own.env },
      config: deepMerge(s.config, own.config ?? {}),
      secrets: Object.entries(s.secrets).map(([key, source]) => resolveSecret(key, source, dir)),
      data: { reads: [...new Set(s.data.reads)], emits: [...new Set(s.data.emits)] },
      publish: s.publish.map((p) => {
        const target = portOf(s, p.port);
        return { hostPort: p.hostPort, port: target.port, protocol: target.protocol };
      }),
      dependsOn: [...new Set([...s.dependsOn, ...usedDatabases])],
      databases: usedDatabases,
      stopTimeoutMs: s.stopTimeout,
      ...(s.ci && { ci: resolveCi(s.ci, dir) }),
      ...(s.deploy && {
        deploy: {
          maxSurge: s.deploy.maxSurge,
          maxUnavailable: s.deploy.maxUnavailable,
          drainTimeoutMs: s.deploy.drainTimeout,
          healthTimeoutMs: s.deploy.healthTimeout,
        },
      }),
      ...(!s.tracing && { tracing: false }),
      source: { file, line: opts.lineOf('services', name) },
    };
  });

  return {
    name: input.name,
    environment,
    file,
    dir,
    ...(input.cidr !== undefined && { cidr: input.cidr }),
    namespaces: resolveNamespaces(input, services, databases, environment),
    services,
    databases,
    dataRules: input.dataRules.map((r) => ({
      forbid: r.forbid,
      ...(r.reason !== undefined && { reason: r.reason }),
    })),
  };
}

function whole<T>(entry: FieldEntry<T>): { name: string; fields: T } {
  if (!entry.valid) throw new Error(`bug: '${entry.name}' has problems but was resolved`);
  return { name: entry.name, fields: entry.fields as T };
}

function resolveHealth(s: ServiceInput): ResolvedHealthCheck | undefined {
  const h = s.health;
  if (!h) return undefined;
  const numberOf = (ref: PortRef): number => (typeof ref === 'number' ? ref : portOf(s, ref).port);
  return {
    ...(h.http && { http: { path: h.http.path, port: numberOf(h.http.port) } }),
    ...(h.tcp && { tcp: { port: numberOf(h.tcp.port) } }),
    intervalMs: h.interval,
    timeoutMs: h.timeout,
    healthyThreshold: h.healthyThreshold,
    unhealthyThreshold: h.unhealthyThreshold,
    startPeriodMs: h.startPeriod,
  };
}

function portOf(s: ServiceInput, ref: PortRef) {
  const port = findPort(s.ports, ref)[0];
  if (!port) throw new Error(`bug: port reference ${String(ref)} passed the checks but resolves to nothing`);
  return port;
}

function resolveSecret(key: string, source: ServiceInput['secrets'][string], dir: string): ResolvedSecretRef {
  if (source.fromEnv !== undefined) return { key, source: { fromEnv: source.fromEnv } };
  if (source.fromFile !== undefined) return { key, source: { fromFile: resolvePath(dir, source.fromFile) } };
  return { key, source: { generate: source.generate! } };
}

/**
 * Declared namespaces keep their labels; namespaces only used by services or databases, and the
 * environment's default namespace, exist with no labels. Sorted by name so output is stable.
 */
function resolveNamespaces(
  input: StackInput,
  services: readonly ResolvedService[],
  databases: readonly ResolvedDatabase[],
  environment: string,
): ResolvedNamespace[] {
  const labels = new Map<string, Record<string, string>>();
  for (const ns of input.namespaces) labels.set(ns.name, ns.input ?? {});
  for (const name of [
    environment,
    ...services.map((s) => s.namespace),
    ...databases.map((d) => d.namespace),
  ]) {
    if (!labels.has(name)) labels.set(name, {});
  }
  return [...labels.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, l]) => ({ name, labels: l }));
}

/** Mappings merge key by key, recursively; anything else in the overlay (lists, scalars) replaces. */
export function deepMerge(
  base: Record<string, unknown>,
  overlay: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}
