import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReplicaPlan, Runtime } from './types.ts';

export interface RuntimeContractFixture {
  runtime: Runtime;
  /** An environment spec the driver accepts (its addressing), for a fresh environment name. */
  environment: { environment: string; addressing: unknown };
  /** A replica plan in that environment whose command runs until killed. */
  replica(index: number): ReplicaPlan;
  /** Runs after the suite (e.g. release a claim on the environment name). */
  cleanup?(): Promise<void>;
}

/**
 * What every Runtime driver must do (the namespace driver, the in-memory fake, later Docker and
 * Kubernetes). Run with a fixture per driver; the driver cleans up through its own API.
 */
export function runRuntimeContract(name: string, makeFixture: () => Promise<RuntimeContractFixture>): void {
  describe(`Runtime contract: ${name}`, { timeout: 60_000 }, () => {
    let fx: RuntimeContractFixture | undefined;
    after(async () => {
      if (fx) await fx.runtime.destroyEnvironment(fx.environment.environment);
      await fx?.cleanup?.();
    });

    it('GIVEN a fresh environment WHEN ensured twice THEN it is idempotent and the driver reports its requirements', async () => {
      fx = await makeFixture();
      const checks = await fx.runtime.check();
      assert.ok(checks.length > 0);
      await fx.runtime.ensureEnvironment(fx.environment);
      await fx.runtime.ensureEnvironment(fx.environment);
    });

    it('GIVEN a prepared replica WHEN its process starts THEN it can be adopted by pid and start time, and killed', async () => {
      const { runtime } = fx!;
      const plan = fx!.replica(0);
      await runtime.prepareReplicas([plan]);
      const proc = await runtime.startProcess(plan);
      assert.ok(proc.pid > 0);
      const adopted = runtime.adoptProcess(plan, proc.pid, proc.startTime);
      assert.ok(adopted, 'a live process is adoptable');
      assert.equal(
        runtime.adoptProcess(plan, proc.pid, proc.startTime + 1),
        undefined,
        'a pid with another start time is someone else',
      );
      proc.kill('SIGTERM');
      await proc.exited;
      await adopted!.exited;
      assert.equal(runtime.adoptProcess(plan, proc.pid, proc.startTime), undefined);
      await runtime.removeReplicas([plan]);
      await runtime.removeReplicas([plan]);
    });

    it('GIVEN endpoints WHEN set twice THEN the second replaces the first', async () => {
      const { runtime } = fx!;
      const svc = {
        namespace: 'ns',
        name: 'svc',
        network: 'app' as const,
        ports: [{ port: 8080, protocol: 'TCP' as const }],
        publish: [],
      };
      const plan = fx!.replica(1);
      await runtime.setEndpoints(fx!.environment, [
        { ...svc, vip: vipOf(fx!), endpoints: [plan.attachments[0]!.address] },
      ]);
      await runtime.setEndpoints(fx!.environment, [{ ...svc, vip: vipOf(fx!), endpoints: [] }]);
    });

    it('GIVEN an environment not kept WHEN leftovers are removed THEN it is gone, and destroy is idempotent', async () => {
      const { runtime } = fx!;
      const plan = fx!.replica(2);
      await runtime.prepareReplicas([plan]);
      const mine = fx!.environment.environment;
      assert.ok((await runtime.listEnvironments()).includes(mine));
      // Keep everyone else's: a host may run other stacks while the tests run.
      const others = (await runtime.listEnvironments()).filter((e) => e !== mine);
      const report = await runtime.removeLeftovers(new Set(others));
      assert.equal(report.failed.length, 0);
      assert.ok(report.removed.length > 0);
      assert.ok(!(await runtime.listEnvironments()).includes(mine));
      await runtime.destroyEnvironment(fx!.environment.environment);
      await runtime.destroyEnvironment(fx!.environment.environment);
    });
  });
}

function vipOf(fx: RuntimeContractFixture): string {
  const a = fx.environment.addressing as { appVips?: string } | undefined;
  const base = a?.appVips?.split('/')[0] ?? '198.18.12.0';
  const parts = base.split('.').map(Number);
  parts[3] = (parts[3] ?? 0) + 2;
  return parts.join('.');
}
