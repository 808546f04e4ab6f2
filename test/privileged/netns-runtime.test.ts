// The Runtime contract against the namespace driver: real namespaces, veths, bridges, nftables.
import { mkdtemp } from 'node:fs/promises';
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
    cleanup: async () => ownership.release(env),
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
