import { existsSync, readFileSync, statSync } from 'node:fs';
import { access, chmod, constants } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  applyEnvironmentNetwork,
  applyReplicaNetworks,
  applyRuleset,
  BRIDGE_NF_CALL_IPTABLES,
  execInNetns,
  hostIpv4Networks,
  listLeftovers,
  planEnvironmentNetwork,
  planReplicaNetwork,
  removeEnvironment,
  removeLeftovers,
  removeReplicaNetworks,
  updateReplicaHosts,
  type EnvironmentAddressing,
} from '../network/index.ts';
import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import { NFT_TABLE_PREFIX, SERVICE_USER, nftTableName } from '../platform/names.ts';
import { adoptProcess, spawnDetached, type WatchedProcess } from './process.ts';
import type { EnvironmentNetworkSpec, ReplicaPlan, Requirement, Runtime, ServiceEndpoints } from './types.ts';

export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

/**
 * Rampart's own folder: Node replicas load its preloads (tracing, the module list) and their
 * OpenTelemetry packages from it, as the service user.
 */
const RAMPART_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * The directories from `dir` up to `/` that other users may not traverse (no o+x): a checkout under
 * /root or `mktemp -d` (0700) keeps the service user, and so every Node replica, out of it.
 */
export function untraversable(dir: string): string[] {
  const out: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    let mode = 0;
    try {
      mode = statSync(d).mode;
    } catch {
      // Unreadable even to us: reported as closed.
    }
    if ((mode & 0o001) === 0) out.push(d);
    if (d === dirname(d)) return out;
  }
}

export interface NetnsRuntime extends Runtime {
  /** Installs what `check` found missing (apt-get, useradd, sysctl); returns a fresh check. */
  fix(checks: readonly Requirement[], log: (line: string) => void): Promise<Requirement[]>;
}

const TOOLS: readonly { bin: string; pkg: string }[] = [
  { bin: 'ip', pkg: 'iproute2' },
  { bin: 'nft', pkg: 'nftables' },
  { bin: 'conntrack', pkg: 'conntrack' },
  { bin: 'setpriv', pkg: 'util-linux' },
  { bin: 'useradd', pkg: 'passwd' },
  { bin: 'sysctl', pkg: 'procps' },
];

async function onPath(bin: string): Promise<string | undefined> {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin']) {
    try {
      await access(`${dir}/${bin}`, constants.X_OK);
      return `${dir}/${bin}`;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * The default runtime: every replica in its own network namespace on the environment's bridges,
 * its process started with `ip netns exec` and `setpriv` as an unprivileged user, the service VIPs
 * in nftables. Nothing sits on the request path but the kernel.
 */
export function createNetnsRuntime(opts: { exec: Exec }): NetnsRuntime {
  const { exec } = opts;
  const addressing = new Map<string, EnvironmentAddressing>();
  let userReady = false;
  const reachable = new Map<string, Promise<void>>();

  const addressingOf = (env: string): EnvironmentAddressing => {
    const a = addressing.get(env);
    if (!a) throw new Error(`environment ${env} has no network yet (ensureEnvironment first)`);
    return a;
  };

  async function ensureUser(): Promise<void> {
    if (userReady) return;
    const found = await exec(['id', '-u', SERVICE_USER], { allowFailure: true });
    if (found.code !== 0) {
      await exec([
        'useradd',
        '--system',
        '--user-group',
        '--no-create-home',
        '--home-dir',
        '/nonexistent',
        '--shell',
        '/usr/sbin/nologin',
        SERVICE_USER,
      ]);
    }
    userReady = true;
  }

  async function check(): Promise<Requirement[]> {
    const out: Requirement[] = [];
    out.push({ name: 'linux', ok: process.platform === 'linux', detail: process.platform, required: true });
    out.push({
      name: 'root',
      ok: process.getuid?.() === 0,
      detail: `uid ${process.getuid?.() ?? '?'}`,
      required: true,
      fix: 'run as root (sudo)',
    });
    const [major] = process.versions.node.split('.').map(Number);
    out.push({ name: 'node >= 20', ok: (major ?? 0) >= 20, detail: process.versions.node, required: true });
    for (const t of TOOLS) {
      const path = await onPath(t.bin);
      out.push({
        name: t.bin,
        ok: path !== undefined,
        detail: path ?? 'not found',
        required: t.bin !== 'conntrack',
        package: t.pkg,
        fix: `apt-get install ${t.pkg}`,
      });
    }
    const nf = existsSync(BRIDGE_NF_CALL_IPTABLES)
      ? readFileSync(BRIDGE_NF_CALL_IPTABLES, 'utf8').trim()
      : 'absent';
    out.push({
      name: 'br_netfilter',
      ok: nf === '1',
      detail: `${BRIDGE_NF_CALL_IPTABLES}: ${nf}`,
      required: true,
      fix: 'modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1',
    });
    const pg = existsSync(`${POSTGRES_BIN}/postgres`);
    out.push({
      name: 'postgresql 15 server (for engine: postgres)',
      ok: pg,
      detail: pg ? POSTGRES_BIN : 'not found',
      required: false,
      package: 'postgresql-15',
      fix: 'apt-get install postgresql-15',
    });
    const closed = untraversable(RAMPART_ROOT);
    out.push({
      name: `rampart folder reachable by '${SERVICE_USER}'`,
      ok: closed.length === 0,
      detail: closed.length === 0 ? RAMPART_ROOT : `not traversable by other users: ${closed.join(', ')}`,
      required: true,
      fix: `chmod o+x ${closed.join(' ')} (or install Rampart outside a private directory such as /root)`,
    });
    const user =
      process.getuid?.() === 0
        ? (await exec(['id', '-u', SERVICE_USER], { allowFailure: true }).catch(() => ({ code: 1 }))).code ===
          0
        : false;
    out.push({
      name: `service user '${SERVICE_USER}'`,
      ok: user,
      detail: user ? 'exists' : 'missing (created on first up)',
      required: false,
      fix: `useradd --system --user-group ${SERVICE_USER}`,
    });
    return out;
  }

  return {
    driver: 'netns',
    check,

    async fix(checks, log) {
      const packages = [...new Set(checks.filter((c) => !c.ok && c.package).map((c) => c.package as string))];
      if (packages.length > 0) {
        log(`installing ${packages.join(' ')} (apt-get)`);
        await exec(['apt-get', 'update', '-qq']);
        await exec(['apt-get', 'install', '-y', '-qq', ...packages], {
          env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        });
      }
      if (checks.some((c) => c.name === 'br_netfilter' && !c.ok)) {
        log('loading br_netfilter');
        await exec(['modprobe', 'br_netfilter'], { allowFailure: true });
        await exec(['sysctl', '-w', 'net.bridge.bridge-nf-call-iptables=1'], { allowFailure: true });
      }
      if (checks.some((c) => c.name.startsWith('rampart folder') && !c.ok)) {
        const closed = untraversable(RAMPART_ROOT);
        log(`letting other users traverse ${closed.join(', ')} (chmod o+x)`);
        for (const d of closed) await chmod(d, statSync(d).mode | 0o001);
      }
      if (checks.some((c) => c.name.startsWith('service user') && !c.ok)) {
        log(`creating user ${SERVICE_USER}`);
        userReady = false;
        await ensureUser();
      }
      return check();
    },

    async ensureEnvironment(spec: EnvironmentNetworkSpec) {
      const a = spec.addressing as EnvironmentAddressing;
      addressing.set(spec.environment, a);
      await ensureUser();
      await applyEnvironmentNetwork(exec, planEnvironmentNetwork({ env: spec.environment, addressing: a }));
      // A fresh environment gets its table at once, so a VIP never leaks to the host's default route
      // before the first endpoints arrive. An existing table is left alone: a restarted daemon
      // re-adopting live replicas must not blank their load balancing.
      const table = await exec(['nft', 'list', 'table', 'ip', nftTableName(spec.environment)], {
        allowFailure: true,
      });
      if (table.code !== 0) await applyRuleset(exec, { env: spec.environment, addressing: a, services: [] });
    },

    async destroyEnvironment(environment) {
      await removeEnvironment(exec, environment);
      addressing.delete(environment);
    },

    async prepareReplicas(plans: readonly ReplicaPlan[]) {
      await applyReplicaNetworks(
        exec,
        plans.map((plan) =>
          planReplicaNetwork({
            env: plan.environment,
            namespace: plan.namespace,
            service: plan.service,
            index: plan.index,
            addressing: addressingOf(plan.environment),
            attachments: plan.attachments,
            hosts: plan.hosts.map((h) => ({ address: h.address, names: [...h.names] })),
          }),
        ),
      );
    },

    async startProcess(plan: ReplicaPlan): Promise<WatchedProcess> {
      // Fail with a clear reason rather than a crash loop when the user cannot reach the code.
      // Checked once per (user, folder): a process start each time would be most of `up`'s cost.
      // A folder every user may traverse (o+x on it and on each parent: the usual case) needs no
      // probe; otherwise the user may still get in as owner or group member, and only a process
      // running as that user can tell (the probe took 225 ms on average, up to 520 ms, while the
      // replicas of 10 services were starting together: on the path of each service's first start).
      const key = `${plan.user}\u0000${plan.cwd}`;
      let check = reachable.get(key);
      if (!check && untraversable(plan.cwd).length === 0) {
        check = Promise.resolve();
        reachable.set(key, check);
      }
      if (!check) {
        // The promise is cached, so replicas starting together share one check.
        check = exec(
          [
            'setpriv',
            `--reuid=${plan.user}`,
            `--regid=${plan.user}`,
            '--clear-groups',
            '--',
            'test',
            '-x',
            plan.cwd,
          ],
          { allowFailure: true },
        ).then((probe) => {
          if (probe.code !== 0) {
            reachable.delete(key);
            throw new RampartError('RAMPART_E_EXEC_FAILED', `user ${plan.user} cannot enter ${plan.cwd}`, {
              fix: `make the folder and its parents readable and traversable by others (chmod o+rx), or move the stack out of a private home`,
            });
          }
        });
        reachable.set(key, check);
      }
      await check;
      return spawnDetached({
        argv: execInNetns(plan.netns, plan.argv, { user: plan.user }),
        cwd: plan.cwd,
        env: plan.env,
        stdoutFile: plan.stdoutFile,
        stderrFile: plan.stderrFile,
      });
    },

    async updateHosts(plan, hosts) {
      await updateReplicaHosts(
        plan.netns,
        hosts.map((h) => ({ address: h.address, names: [...h.names] })),
      );
    },

    adoptProcess(_plan, pid, startTime) {
      return adoptProcess(pid, startTime);
    },

    async removeReplicas(plans: readonly ReplicaPlan[]) {
      await removeReplicaNetworks(
        exec,
        plans.map((p) => ({
          env: p.environment,
          namespace: p.namespace,
          service: p.service,
          index: p.index,
        })),
      );
    },

    async setEndpoints(spec: EnvironmentNetworkSpec, services: readonly ServiceEndpoints[]) {
      await applyRuleset(exec, {
        env: spec.environment,
        addressing: spec.addressing as EnvironmentAddressing,
        services,
      });
    },

    execArgv(plan, command, user) {
      return execInNetns(plan.netns, command, user ? { user } : {});
    },

    hostNetworks() {
      return hostIpv4Networks(exec);
    },

    async listEnvironments() {
      const found = await listLeftovers(exec);
      const envs = new Set<string>();
      for (const n of found.netns) if (n.env) envs.add(n.env);
      for (const l of found.links) envs.add(l.env);
      for (const t of [...found.tables, ...found.inetTables])
        envs.add(t.slice(NFT_TABLE_PREFIX.length).replaceAll('_', '-'));
      return [...envs].sort();
    },

    async removeLeftovers(keep) {
      return removeLeftovers(exec, { keepEnvironments: keep });
    },
  };
}
