// The nftables FirewallBackend against the same contract as the in-memory one
// (src/firewall/backend.test.ts), on the real kernel: no namespaces needed, only the table.
import { runFirewallBackendContract } from '../../src/firewall/backend.contract.ts';
import { nftablesBackend } from '../../src/firewall/backend.ts';
import { realExec } from '../../src/platform/exec.ts';
import { nftTableName } from '../../src/platform/names.ts';
import { DEFAULT_OWNERS_DIR, EnvironmentOwnership } from '../../src/server/ownership.ts';
import { testEnvironmentName } from '../../src/testing/control-plane.ts';

if (process.getuid?.() === 0) {
  runFirewallBackendContract('nftables', async () => {
    const env = testEnvironmentName('x');
    // A daemon starting meanwhile would sweep a table of an environment nobody owns.
    const ownership = new EnvironmentOwnership(DEFAULT_OWNERS_DIR, `test:${process.pid}`);
    ownership.claim(env);
    return {
      backend: nftablesBackend({ exec: realExec }),
      env,
      async recordDenied(e) {
        const element = `${e.srcIp} . ${e.dstIp} . ${e.protocol.toLowerCase()} . ${e.dstPort}`;
        await realExec(['nft', 'add', 'element', 'inet', nftTableName(env), 'denied', `{ ${element} }`]);
      },
      cleanup: async () => ownership.release(env),
    };
  });
}
