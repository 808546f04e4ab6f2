import { runRuntimeContract } from '../runtime/runtime.contract.ts';
import { FakeRuntime } from './fake-runtime.ts';
import type { ReplicaPlan } from '../runtime/index.ts';

runRuntimeContract('in-memory fake', async () => {
  const runtime = new FakeRuntime();
  return {
    runtime,
    environment: { environment: 'fake', addressing: {} },
    replica: (index): ReplicaPlan => ({
      environment: 'fake',
      namespace: 'ns',
      service: 'svc',
      index,
      kind: 'service',
      id: `ns/svc-${index}`,
      netns: `rampart-fake-ns-svc-${index}`,
      attachments: [{ net: 'app', address: `198.18.0.${10 + index}` }],
      argv: ['sleep', '60'],
      user: 'nobody',
      cwd: '/',
      env: {},
      hosts: [],
      stdoutFile: '/dev/null',
      stderrFile: '/dev/null',
      stopTimeoutMs: 1000,
    }),
  };
});
