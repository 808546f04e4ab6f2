import { join } from 'node:path';
import { roleNameFor } from '../databases/index.ts';
import { discoveryEnv, discoveryHosts, vipNetwork } from '../network/index.ts';
import { SERVICE_USER, netnsName, replicaId } from '../platform/names.ts';
import type { ReplicaPlan, ServiceEndpoints } from '../runtime/index.ts';
import type { NetworkName, ResolvedDatabase, ResolvedService, ResolvedStack } from '../stack/index.ts';
import { slotsOf, type NetworkAllocation } from './allocate.ts';
import { nodeTracingEnv, type NodePreloads } from './node-tracing.ts';
import { renderRcEnv } from './rc-env.ts';

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface PlanInputs {
  stack: ResolvedStack;
  allocation: NetworkAllocation;
  /** Decrypted secret values per owner (service name) and key. */
  secrets: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Password of each database user: `passwords[db][service]`. */
  databasePasswords: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Where replica logs go. */
  logDir: string;
  /** The database server's command for its address (engine specific, see databases/). */
  databaseCommand: (
    db: ResolvedDatabase,
    address: string,
  ) => { argv: readonly string[]; user: string; cwd: string };
  /** Preloads for Node services (tracing, module list); omitted: nothing is injected. */
  nodePreloads?: NodePreloads;
}

export interface EnvironmentPlan {
  environment: string;
  replicas: readonly ReplicaPlan[];
  /** Service VIPs with ports, endpoints left empty (the controller fills healthy ones). */
  services: readonly ServiceEndpoints[];
  /** Start order: each layer's members only depend on earlier layers. Keys are `<ns>/<name>`. */
  layers: readonly (readonly string[])[];
}

export const memberKey = (namespace: string, name: string): string => `${namespace}/${name}`;

interface Member {
  key: string;
  namespace: string;
  name: string;
  networks: readonly NetworkName[];
  ports: readonly { port: number; protocol: 'TCP' | 'UDP' }[];
  vip: string;
}

function members(stack: ResolvedStack, allocation: NetworkAllocation): Member[] {
  const vipOf = (key: string): string => {
    const vip = allocation.vips[key];
    if (!vip) throw new Error(`no VIP allocated for ${key}`);
    return vip;
  };
  return [
    ...stack.services.map((s) => ({
      key: memberKey(s.namespace, s.name),
      namespace: s.namespace,
      name: s.name,
      networks: s.networks,
      ports: s.ports.map((p) => ({ port: p.port, protocol: p.protocol })),
      vip: vipOf(memberKey(s.namespace, s.name)),
    })),
    ...stack.databases.map((d) => ({
      key: memberKey(d.namespace, d.name),
      namespace: d.namespace,
      name: d.name,
      networks: ['db'] as NetworkName[],
      ports: [{ port: d.port, protocol: 'TCP' as const }],
      vip: vipOf(memberKey(d.namespace, d.name)),
    })),
  ];
}

/** Hosts lines and `<SERVICE>_HOST`/`_PORT` variables for a replica (rules in network/discovery.ts). */
function discovery(networks: readonly NetworkName[], namespace: string, all: readonly Member[]) {
  const input = { networks, namespace, members: all };
  return { hosts: discoveryHosts(input), env: discoveryEnv(input) };
}

export const databaseName = (db: string): string => db.replaceAll('-', '_');

function databaseEnv(
  service: ResolvedService,
  stack: ResolvedStack,
  inputs: PlanInputs,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const dbName of service.databases) {
    const db = stack.databases.find((d) => d.name === dbName);
    const password = inputs.databasePasswords[dbName]?.[service.name];
    if (!db || password === undefined) continue;
    const host = `${db.name}.${db.namespace}:${db.port}`;
    // An insecure single-node CockroachDB has no passwords (see server/database-engines.ts).
    const url =
      db.engine === 'cockroachdb'
        ? `postgresql://${roleNameFor(service.name)}@${host}/${databaseName(db.name)}?sslmode=disable`
        : `postgres://${roleNameFor(service.name)}:${encodeURIComponent(password)}@${host}/${databaseName(db.name)}`;
    env[`${dbName.toUpperCase().replaceAll('-', '_')}_DATABASE_URL`] = url;
    env.DATABASE_URL ??= url;
  }
  return env;
}

function addressesOf(
  allocation: NetworkAllocation,
  id: string,
  networks: readonly NetworkName[],
): ReplicaPlan['attachments'] {
  return networks.map((net) => {
    const address = allocation.replicas[id]?.[net];
    if (!address) throw new Error(`no ${net} address allocated for ${id}`);
    return { net, address };
  });
}

/** Pure: the stack, its allocation and its secrets become the replicas to run and the VIPs to serve. */
export function planEnvironment(inputs: PlanInputs): EnvironmentPlan {
  const { stack, allocation } = inputs;
  const all = members(stack, allocation);
  const replicas: ReplicaPlan[] = [];
  const logFiles = (ns: string, name: string, i: number) => ({
    stdoutFile: join(inputs.logDir, stack.environment, ns, `${name}-${i}.out.log`),
    stderrFile: join(inputs.logDir, stack.environment, ns, `${name}-${i}.err.log`),
  });

  for (const s of stack.services) {
    const found = discovery(s.networks, s.namespace, all);
    const secretEnv = renderRcEnv(
      s.app,
      Object.fromEntries(s.secrets.map((ref) => [ref.key, inputs.secrets[s.name]?.[ref.key] ?? ''])),
    );
    // Slots, not 0..n-1: a rolling update moves replicas between slots (allocate.ts).
    for (const i of slotsOf(allocation, memberKey(s.namespace, s.name), s.replicas)) {
      const id = replicaId(s.namespace, s.name, i);
      replicas.push({
        environment: stack.environment,
        namespace: s.namespace,
        service: s.name,
        index: i,
        kind: 'service',
        id,
        netns: netnsName(stack.environment, s.namespace, s.name, i),
        attachments: addressesOf(allocation, id, s.networks),
        argv: s.command,
        user: SERVICE_USER,
        cwd: s.workdir,
        env: {
          PATH: BASE_PATH,
          HOME: '/nonexistent',
          LANG: 'C.UTF-8',
          ...found.env,
          ...databaseEnv(s, stack, inputs),
          ...s.env,
          ...renderRcEnv(s.app, s.config),
          ...secretEnv,
          ...(inputs.nodePreloads &&
            nodeTracingEnv({
              preloads: inputs.nodePreloads,
              command: s.command,
              tracing: s.tracing !== false,
              serviceEnv: s.env,
              gateway: allocation.addressing[s.networks.includes('app') ? 'app' : 'db'].gateway,
              environment: stack.environment,
              namespace: s.namespace,
              service: s.name,
              replica: i,
              replicaId: id,
              healthPath: s.health?.http?.path,
            })),
          RAMPART_ENVIRONMENT: stack.environment,
          RAMPART_NAMESPACE: s.namespace,
          RAMPART_SERVICE: s.name,
          RAMPART_REPLICA: String(i),
          RAMPART_REPLICA_ID: id,
        },
        hosts: found.hosts,
        ...logFiles(s.namespace, s.name, i),
        health: s.health,
        stopTimeoutMs: s.stopTimeoutMs,
      });
    }
  }

  for (const db of stack.databases) {
    const id = replicaId(db.namespace, db.name, 0);
    const attachments = addressesOf(allocation, id, ['db']);
    const command = inputs.databaseCommand(db, attachments[0]!.address);
    replicas.push({
      environment: stack.environment,
      namespace: db.namespace,
      service: db.name,
      index: 0,
      kind: 'database',
      id,
      netns: netnsName(stack.environment, db.namespace, db.name, 0),
      attachments,
      argv: command.argv,
      user: command.user,
      cwd: command.cwd,
      env: { PATH: BASE_PATH, LANG: 'C.UTF-8', RAMPART_ENVIRONMENT: stack.environment },
      hosts: discovery(['db'], db.namespace, all).hosts,
      ...logFiles(db.namespace, db.name, 0),
      health: {
        tcp: { port: db.port },
        intervalMs: 2000,
        timeoutMs: 1000,
        healthyThreshold: 1,
        unhealthyThreshold: 3,
        startPeriodMs: 0,
      },
      stopTimeoutMs: 30_000,
    });
  }

  const services: ServiceEndpoints[] = all.map((m) => ({
    namespace: m.namespace,
    name: m.name,
    vip: m.vip,
    network: vipNetwork(m.networks),
    ports: m.ports,
    endpoints: [],
    publish: stack.services.find((s) => memberKey(s.namespace, s.name) === m.key)?.publish ?? [],
  }));

  return { environment: stack.environment, replicas, services, layers: startLayers(stack) };
}

/** Kahn's algorithm over dependsOn; the stack parser has already rejected cycles. */
export function startLayers(stack: ResolvedStack): string[][] {
  const keyOf = new Map<string, string>();
  for (const s of stack.services) keyOf.set(s.name, memberKey(s.namespace, s.name));
  for (const d of stack.databases) keyOf.set(d.name, memberKey(d.namespace, d.name));
  const deps = new Map<string, Set<string>>();
  for (const d of stack.databases) deps.set(memberKey(d.namespace, d.name), new Set());
  for (const s of stack.services) {
    deps.set(
      memberKey(s.namespace, s.name),
      new Set(s.dependsOn.map((n) => keyOf.get(n)).filter((k): k is string => k !== undefined)),
    );
  }
  const layers: string[][] = [];
  const done = new Set<string>();
  while (done.size < deps.size) {
    const layer = [...deps]
      .filter(([k, d]) => !done.has(k) && [...d].every((x) => done.has(x)))
      .map(([k]) => k);
    if (layer.length === 0)
      throw new Error('dependency cycle (should have been rejected by the stack parser)');
    layer.sort();
    layers.push(layer);
    for (const k of layer) done.add(k);
  }
  return layers;
}
