// The Runtime contract against the namespace driver: real namespaces, veths, bridges, nftables.
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  allocateAddress,
  allocateEnvironmentBlock,
  planEnvironmentAddressing,
} from '../../src/network/index.ts';
import { netnsName, replicaId, SERVICE_USER } from '../../src/platform/names.ts';
import { realExec } from '../../src/platform/exec.ts';
import { createNetnsRuntime } from '../../src/runtime/netns-driver.ts';
import { runRuntimeContract } from '../../src/runtime/runtime.contract.ts';
import type { ReplicaPlan } from '../../src/runtime/types.ts';
import { testEnvironmentName } from '../../src/testing/control-plane.ts';
import { DEFAULT_OWNERS_DIR, EnvironmentOwnership } from '../../src/server/ownership.ts';

runRuntimeContract('netns driver', async () => {
  const runtime = createNetnsRuntime({ exec: realExec });
  const env = testEnvironmentName('c');
  // Claimed, so a daemon starting meanwhile (another test, a bench) does not sweep it as a leftover.
  const ownership = new EnvironmentOwnership(DEFAULT_OWNERS_DIR, `test:${process.pid}`);
  ownership.claim(env);
  // A block no network on this host uses (other stacks may run during the tests).
  const addressing = planEnvironmentAddressing(
    allocateEnvironmentBlock('198.18.0.0/15', await runtime.hostNetworks()),
  );
  const logs = await mkdtemp(join(tmpdir(), 'rampart-contract-'));
  return {
    runtime,
    cleanup: async () => {
      ownership.release(env);
      await rm(logs, { recursive: true, force: true });
    },
    environment: { environment: env, addressing },
    replica: (index): ReplicaPlan => ({
      environment: env,
      namespace: 'ns',
      service: 'svc',
      index,
      kind: 'service',
      id: replicaId('ns', 'svc', index),
      netns: netnsName(env, 'ns', 'svc', index),
      attachments: [
        { net: 'app', address: allocateAddress(addressing.app.subnet, new Set([addressing.app.gateway])) },
      ],
      argv: ['sleep', '60'],
      user: SERVICE_USER,
      cwd: '/',
      env: { PATH: '/usr/bin:/bin' },
      hosts: [],
      stdoutFile: join(logs, `svc-${index}.out.log`),
      stderrFile: join(logs, `svc-${index}.err.log`),
      stopTimeoutMs: 1000,
    }),
  };
});

describe('netns driver: a replica folder the service user may not enter', () => {
  it('GIVEN a folder closed to others WHEN a replica starts there THEN it fails with the fix; GIVEN the service user owns it THEN the probe lets it start', async () => {
    const runtime = createNetnsRuntime({ exec: realExec });
    const netns = `rp-test-cwd-${process.pid}`;
    // mkdtemp makes it 0700, owned by root: the service user cannot enter it.
    const dir = await mkdtemp(join(tmpdir(), 'rampart-test-cwd-'));
    await realExec(['ip', 'netns', 'add', netns]);
    const plan = (cwd: string): ReplicaPlan => ({
      environment: 'cwdtest',
      namespace: 'ns',
      service: 'svc',
      index: 0,
      kind: 'service',
      id: replicaId('ns', 'svc', 0),
      netns,
      attachments: [],
      argv: ['sleep', '30'],
      user: SERVICE_USER,
      cwd,
      env: { PATH: '/usr/bin:/bin' },
      hosts: [],
      stdoutFile: join(dir, 'out.log'),
      stderrFile: join(dir, 'err.log'),
      stopTimeoutMs: 1000,
    });
    try {
      const closed = join(dir, 'closed');
      await mkdir(closed, { mode: 0o700 });
      await assert.rejects(runtime.startProcess(plan(closed)), (e: Error) => {
        assert.match(e.message, new RegExp(`user ${SERVICE_USER} cannot enter ${closed}`));
        assert.match(String((e as { hint?: string }).hint), /chmod o\+rx/);
        return true;
      });
      // Not traversable by others, but by its owner: only a probe as that user can tell.
      await chmod(dir, 0o711);
      const owned = join(dir, 'owned');
      await mkdir(owned, { mode: 0o700 });
      const id = (flag: string) => realExec(['id', flag, SERVICE_USER]).then((r) => Number(r.stdout.trim()));
      await chown(owned, await id('-u'), await id('-g'));
      const p = await runtime.startProcess(plan(owned));
      p.kill('SIGKILL');
      await p.exited;
    } finally {
      await realExec(['ip', 'netns', 'del', netns], { allowFailure: true });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
