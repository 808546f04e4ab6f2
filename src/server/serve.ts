import { join } from 'node:path';
import type { ResolvedDaemonConfig } from '../config/index.ts';
import { systemClock, type Clock } from '../platform/clock.ts';
import { realExec, type Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import { installedNodePreloads } from '../orchestrator/index.ts';
import { connectionsOf, withReleases } from '../delivery/index.ts';
import { createNetnsRuntime } from '../runtime/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { loadStack } from '../stack/index.ts';
import { decryptSecret, encryptSecret, loadOrCreateSecretKey } from '../store/index.ts';
import { openStore } from '../store/index.ts';
import { buildApp } from './app.ts';
import { TokenRegistry } from './auth.ts';
import { ControlPlane } from './control-plane.ts';
import { DeliveryService } from './delivery.ts';
import { DaemonObservability } from './observability.ts';
import { createDatabaseEngines } from './database-engines.ts';
import { DEFAULT_OWNERS_DIR, EnvironmentOwnership } from './ownership.ts';
import {
  acquireLock,
  ensureStateDir,
  loadOrCreateToken,
  removeDaemonInfo,
  writeDaemonInfo,
} from './state-dir.ts';

export interface RunningDaemon {
  url: string;
  token: string;
  controlPlane: ControlPlane;
  observability: DaemonObservability;
  delivery: DeliveryService;
  /** Stops the API and supervision; replicas keep running for the next daemon to adopt. */
  close(): Promise<void>;
}

export interface DaemonDeps {
  exec?: Exec;
  clock?: Clock;
  runtime?: Runtime;
  readyTimeoutMs?: number;
  /** @default /run/rampart/environments */
  ownersDir?: string;
  /** Inject tracing (and the other preloads) into Node services. @default true */
  tracing?: boolean;
}

/** The composition root of the control plane: real drivers, the store, the API on 127.0.0.1. */
export async function startDaemon(
  config: ResolvedDaemonConfig,
  deps: DaemonDeps = {},
): Promise<RunningDaemon> {
  if (process.platform !== 'linux') {
    throw new RampartError('RAMPART_E_NOT_LINUX', `Rampart runs on Linux; this is ${process.platform}`);
  }
  if (process.getuid?.() !== 0) {
    throw new RampartError(
      'RAMPART_E_NOT_ROOT',
      'the Rampart daemon must run as root to create network namespaces, bridges and nftables tables',
    );
  }
  const exec = deps.exec ?? realExec;
  const clock = deps.clock ?? systemClock;
  ensureStateDir(config.stateDir);
  const unlock = acquireLock(config.stateDir);
  try {
    const token = loadOrCreateToken(config.stateDir);
    const store = await openStore({ url: config.databaseUrl, stateDir: config.stateDir });
    await store.migrate();
    const key = await loadOrCreateSecretKey(config.stateDir);
    const runtime = deps.runtime ?? createNetnsRuntime({ exec });
    const failed = (await runtime.check()).filter((r) => !r.ok && r.required);
    if (failed.length > 0) {
      throw new RampartError(
        'RAMPART_E_MISSING_TOOL',
        `host requirements missing: ${failed.map((r) => `${r.name} (${r.detail})`).join('; ')}`,
        {
          fix: 'run `rampart doctor --fix` as root',
        },
      );
    }
    const releases = { dir: join(config.stateDir, 'releases'), exec };
    const controlPlane = new ControlPlane({
      runtime,
      store,
      clock,
      codec: { encrypt: (p) => encryptSecret(key, p), decrypt: (c) => decryptSecret(key, c) },
      databases: createDatabaseEngines({ exec, dataDir: join(config.stateDir, 'data') }),
      logDir: join(config.stateDir, 'logs'),
      loadStack: withReleases(loadStack, releases),
      connectionsOf: (target) => connectionsOf(exec, target),
      exec,
      ownership: new EnvironmentOwnership(deps.ownersDir ?? DEFAULT_OWNERS_DIR, config.stateDir),
      readyTimeoutMs: deps.readyTimeoutMs,
      nodePreloads: deps.tracing === false ? undefined : installedNodePreloads(),
    });
    const observability = new DaemonObservability({ stateDir: config.stateDir, controlPlane, clock });
    controlPlane.watchEnvironments(observability);
    await controlPlane.start();
    const tokens = new TokenRegistry({ store, clock, rootToken: token });
    const delivery = new DeliveryService({ controlPlane, releases, clock });
    const app = buildApp({
      controlPlane,
      token,
      tokens,
      observe: observability.routeDeps(),
      delivery,
      vuln: { config: config.vuln, secretsEnv: config.secretsEnv },
    });
    await app.listen({ host: config.host, port: config.port }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE') throw error;
      throw new RampartError(
        'RAMPART_E_CONFLICT',
        `${config.host}:${config.port} is in use (another Rampart daemon with another state directory?)`,
        {
          fix: 'stop it, or give this one another port with RAMPART_PORT (0 picks a free one)',
        },
      );
    });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const url = `http://${config.host}:${port}`;
    writeDaemonInfo(config.stateDir, { url, pid: process.pid, startedAt: clock.now() });
    return {
      url,
      token,
      controlPlane,
      observability,
      delivery,
      close: async () => {
        await app.close();
        await controlPlane.close();
        await observability.close();
        await store.close();
        removeDaemonInfo(config.stateDir);
        unlock();
      },
    };
  } catch (error) {
    unlock();
    throw error;
  }
}
