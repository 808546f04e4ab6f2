import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { resolveDaemonConfig } from '../config/index.ts';
import { startDaemon, type RunningDaemon } from '../server/serve.ts';

export interface TestControlPlane {
  stateDir: string;
  daemon: RunningDaemon;
  /** Writes a stack file into a folder the service user can read; returns its path. */
  writeStack(text: string, name?: string): Promise<string>;
  /** Stops the daemon (replicas keep running) and starts a new one on the same state. */
  restartDaemon(): Promise<RunningDaemon>;
  /** Stops the daemon; with `removeState`, deletes the state directory too. */
  stop(opts?: { removeState?: boolean }): Promise<void>;
}

/** A short random environment name (names.ts allows 8 characters). */
export function testEnvironmentName(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`.slice(0, 8);
}

/** A real control plane (real runtime, real store) in a fresh state directory, API on a free port. */
export async function startControlPlaneForTest(
  opts: {
    readyTimeoutMs?: number;
    /** @default true */ tracing?: boolean;
    /** More daemon settings, as the daemon reads them from its environment (RAMPART_ADVISORIES...). */
    env?: Readonly<Record<string, string>>;
  } = {},
): Promise<TestControlPlane> {
  const stateDir = await mkdtemp(join(tmpdir(), 'rampart-test-'));
  // The service user and postgres must traverse it to reach their own folders.
  await chmod(stateDir, 0o711);
  const config = resolveDaemonConfig({ ...opts.env, RAMPART_HOME: stateDir, RAMPART_PORT: '0' });
  const start = () => startDaemon(config, { readyTimeoutMs: opts.readyTimeoutMs, tracing: opts.tracing });
  const handle: TestControlPlane = {
    stateDir,
    daemon: await start(),
    async writeStack(text, name = 'rampart.yaml') {
      const dir = join(stateDir, 'stacks');
      await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true, mode: 0o755 }));
      const file = join(dir, name);
      await writeFile(file, text);
      return file;
    },
    async restartDaemon() {
      await handle.daemon.close();
      handle.daemon = await start();
      return handle.daemon;
    },
    async stop(stopOpts = {}) {
      await handle.daemon.close();
      if (stopOpts.removeState) await rm(stateDir, { recursive: true, force: true });
    },
  };
  return handle;
}
