/**
 * The fraud stack (examples/fraud) brought up through a real control plane for a test or a
 * benchmark: a daemon in a fresh state directory, the stack file with the small `test` seed and a
 * free published port, `up`, and one `stop()` that removes every environment the daemon knows
 * (replicas, namespaces, bridges, nftables tables, claims) and the state directory, even after a
 * failure half-way.
 *
 * With `copy: true` the stack runs from a private copy of examples/fraud inside the state
 * directory, so a test may change a service's code (a new release) without touching the repository.
 */
import { cp as copyDir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { freePort } from './postgres.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { fraudStackText, type FraudStackOptions } from '../../examples/fraud/generator/stack-file.ts';
import { POSTGRES_SUPERUSER } from '../databases/index.ts';
import { databaseName } from '../orchestrator/index.ts';
import { decryptSecret, loadOrCreateSecretKey } from '../store/index.ts';
import { startControlPlaneForTest, testEnvironmentName, type TestControlPlane } from './control-plane.ts';

/** Where daemons claim environment names (src/server/ownership.ts). */
const OWNERS_DIR = '/run/rampart/environments';
const FRAUD_DIR = fileURLToPath(new URL('../../examples/fraud/', import.meta.url));
const REPO_NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));
const REPO_PACKAGE_JSON = fileURLToPath(new URL('../../package.json', import.meta.url));

export interface FraudStackTestOptions {
  /** Environment name prefix (a unique name is made from it). @default 'fr' */
  prefix?: string;
  /** Run from a private copy of examples/fraud (to change code); else from the repository's folder. */
  copy?: boolean;
  /** @default 'test' (small seeds: up in seconds) */
  overlayFrom?: string;
  replicas?: FraudStackOptions['replicas'];
  config?: FraudStackOptions['config'];
  /** Edits the stack file's text before it is written (e.g. shorter deploy timeouts). */
  editStack?: (text: string) => string;
  /** How long `up` may take (the daemon's ready timeout). @default 150000 */
  readyTimeoutMs?: number;
  /** Inject tracing into the Node services. @default false (not needed by most tests, costs CPU) */
  tracing?: boolean;
}

export interface FraudStack {
  cp: TestControlPlane;
  environment: string;
  /** The gateway's published port on 127.0.0.1. */
  hostPort: number;
  /** `http://127.0.0.1:<hostPort>` */
  url: string;
  /** The stack file the environment was brought up from. */
  file: string;
  /** The fraud folder the stack runs from (the private copy with `copy: true`). */
  dir: string;
  /**
   * Runs `sql` on an environment's `frauddb` as the PostgreSQL superuser, over the server's unix
   * socket (the control plane's own way in); `environment` defaults to the stack's.
   */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    environment?: string,
  ): Promise<R[]>;
  /** Removes every environment of the daemon, stops it and deletes its state directory. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (closed again; the caller binds it soon after). */
export async function freeLocalPort(min = 0): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port > min) return port;
  }
}

/** Makes a private copy of examples/fraud under `into` that runs like the original; returns its path. */
export async function copyFraudFolder(into: string): Promise<string> {
  const dir = join(into, 'fraud');
  await copyDir(FRAUD_DIR, dir, {
    recursive: true,
    filter: (src) => !src.includes('/node_modules'),
  });
  await symlink(REPO_NODE_MODULES, join(dir, 'node_modules'));
  // The repository's package.json says the code is ES modules; the copy outside it needs one too.
  await copyDir(REPO_PACKAGE_JSON, join(dir, 'package.json'));
  return dir;
}

/** Starts a control plane and brings the fraud stack up in a new environment. */
export async function startFraudStack(opts: FraudStackTestOptions = {}): Promise<FraudStack> {
  const cp = await startControlPlaneForTest({
    readyTimeoutMs: opts.readyTimeoutMs ?? 150_000,
    tracing: opts.tracing ?? false,
  });
  const environment = testEnvironmentName(opts.prefix ?? 'fr');
  const stack: FraudStack = {
    cp,
    environment,
    hostPort: 0,
    url: '',
    file: '',
    dir: FRAUD_DIR,
    query: async (sql, params, env = environment) => {
      const key = await loadOrCreateSecretKey(cp.stateDir);
      const secret = (await cp.daemon.controlPlane.store.listSecrets(env, 'database:frauddb')).find(
        (s) => s.key === '__superuser',
      );
      if (!secret) throw new Error(`environment ${env} has no frauddb superuser password`);
      const spec = (await cp.daemon.controlPlane.store.getDeployment(env))?.spec as
        { databases?: { name: string; port: number }[] } | undefined;
      const client = new pg.Client({
        host: join(cp.stateDir, 'data', env, 'frauddb', 'run'),
        port: spec?.databases?.find((d) => d.name === 'frauddb')?.port ?? 5432,
        user: POSTGRES_SUPERUSER,
        password: decryptSecret(key, secret.ciphertext),
        database: databaseName('frauddb'),
      });
      await client.connect();
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    stop: async () => {
      const failures: string[] = [];
      try {
        const environments = new Set([
          environment,
          ...(await cp.daemon.controlPlane.store.listDeployments()).map((d) => d.environment),
        ]);
        for (const env of environments) {
          // Once more on failure: a second `down` sweeps what the first one left.
          for (const attempt of [1, 2]) {
            try {
              await cp.daemon.delivery.destroyEnvironment({ name: env }, () => undefined);
              break;
            } catch (error) {
              failures.push(
                `destroy ${env} (attempt ${attempt}): ${(error as Error).stack ?? String(error)}`,
              );
            }
          }
        }
        // A claim left behind would block the name for every other state directory: report it, remove it.
        for (const env of environments) {
          const claim = join(OWNERS_DIR, env);
          if ((await readFile(claim, 'utf8').catch(() => '')) !== cp.stateDir) continue;
          failures.push(`environment ${env}: its ownership claim ${claim} was left behind`);
          await rm(claim, { force: true });
        }
      } finally {
        await cp.stop({ removeState: true });
      }
      if (failures.length > 0) throw new Error(`fraud stack teardown:\n${failures.join('\n')}`);
    },
  };
  try {
    if (opts.copy) stack.dir = `${await copyFraudFolder(cp.stateDir)}/`;
    stack.hostPort = await freeLocalPort(1024);
    stack.url = `http://127.0.0.1:${stack.hostPort}`;
    let text = fraudStackText({
      environment,
      hostPort: stack.hostPort,
      overlayFrom: opts.overlayFrom ?? 'test',
      replicas: opts.replicas,
      config: opts.config,
    });
    if (opts.copy) text = text.replaceAll(FRAUD_DIR, stack.dir);
    if (opts.editStack) text = opts.editStack(text);
    // Inside the copy, the stack file is the release's root (docs/delivery.md, "Releases").
    stack.file = opts.copy ? join(stack.dir, 'rampart.yaml') : await cp.writeStack(text);
    if (opts.copy) await writeFile(stack.file, text);
    await cp.daemon.controlPlane.up({ file: stack.file, environment, clientEnv: {} }, () => undefined);
    return stack;
  } catch (error) {
    await stack.stop().catch((teardown: Error) => console.error(teardown.message));
    throw error;
  }
}
