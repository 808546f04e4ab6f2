import { runFirewallBackendContract } from './backend.contract.ts';
import { MemoryFirewallBackend } from './backend.ts';

runFirewallBackendContract('in-memory', async () => {
  const backend = new MemoryFirewallBackend();
  const env = 'memfw';
  return {
    backend,
    env,
    recordDenied: async (entry) => backend.recordDenied(env, entry),
  };
});
