import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { recordingExec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import { parseStack, type ResolvedStack } from '../stack/index.ts';
import { openSqliteStore, type Store } from '../store/index.ts';
import { MemoryFirewallBackend } from './backend.ts';
import { FirewallManager, type FirewallContext } from './manager.ts';
import { buildWorld } from './world.ts';

// The real fraud stack (examples/fraud/rampart.yaml) and its rule: credit-bureau never meets
// device-behavior. Enforced in memory: no root, no kernel.
const FRAUD_FILE = fileURLToPath(new URL('../../examples/fraud/rampart.yaml', import.meta.url));
const ENV = 'test';

function fraudStack(change?: (services: Record<string, { data: { emits: string[] } }>) => void) {
  const stack = parseStack({ text: readFileSync(FRAUD_FILE, 'utf8'), file: FRAUD_FILE, environment: ENV });
  const copy = JSON.parse(JSON.stringify(stack)) as ResolvedStack;
  change?.(Object.fromEntries(copy.services.map((s) => [s.name, s])) as never);
  return copy;
}

/** One replica per service and database, app addresses from 198.18.0.10, db from 198.18.8.10. */
function contextOf(stack: ResolvedStack): FirewallContext {
  let app = 10;
  let db = 10;
  const replicas = [
    ...stack.services.map((s) => ({
      namespace: s.namespace,
      service: s.name,
      index: 0,
      attachments: s.networks.map((net) => ({
        net,
        address: net === 'app' ? `198.18.0.${app++}` : `198.18.8.${db++}`,
      })),
    })),
    ...stack.databases.map((d) => ({
      namespace: d.namespace,
      service: d.name,
      index: 0,
      attachments: [{ net: 'db' as const, address: `198.18.8.${db++}` }],
    })),
  ];
  return {
    stack,
    world: buildWorld(stack, replicas),
    block: '198.18.0.0/20',
    dbSubnet: '198.18.8.0/22',
    hostIps: ['198.18.0.1', '198.18.8.1', '127.0.0.1'],
    subnets: ['198.18.0.0/21', '198.18.8.0/22'],
  };
}

describe('FirewallManager on the fraud stack (in-memory backend)', () => {
  const stores: Store[] = [];
  after(async () => {
    for (const s of stores) await s.close();
  });
  async function manager() {
    const store = await openSqliteStore({ file: ':memory:' });
    await store.migrate();
    stores.push(store);
    const backend = new MemoryFirewallBackend();
    const events: { kind: string; message: string }[] = [];
    const fw = new FirewallManager({
      environment: ENV,
      exec: recordingExec(),
      backend,
      store,
      clock: { now: () => 1_000, sleep: async () => undefined },
      captureFlows: false,
      emit: (kind, message) => events.push({ kind, message }),
    });
    return { fw, backend, events };
  }

  it('GIVEN the fraud stack as declared WHEN it is deployed first THEN it is accepted and its table loaded through the backend', async () => {
    const { fw, backend, events } = await manager();
    const ctx = contextOf(fraudStack());
    await fw.checkDeploy(ctx, []);
    await fw.update(ctx, []);
    assert.deepEqual(
      backend.loads.map((l) => l.strategy),
      ['in-place'],
    );
    assert.ok(backend.text(ENV)?.startsWith(`table inet rampart_${ENV} {`));
    assert.deepEqual(
      events.filter((e) => e.kind === 'compliance.open'),
      [],
    );
    await fw.close();
  });

  it('GIVEN credit would send raw bureau records back WHEN the stack is deployed first THEN it is refused with the path through the gateway, and nothing is loaded', async () => {
    const { fw, backend } = await manager();
    const ctx = contextOf(fraudStack((s) => s.credit!.data.emits.push('credit-bureau')));
    await assert.rejects(fw.checkDeploy(ctx, []), (e: unknown) => {
      assert.ok(e instanceof RampartError);
      assert.equal(e.code, 'RAMPART_E_DATA_RULE');
      assert.match(
        e.message,
        /^deploy of fraud to test refused: credit-bureau and device-behavior meet in fraud\/gateway/,
      );
      assert.match(
        e.message,
        /credit-bureau: fraud\/credit -> fraud\/gateway \(response from TCP\/8080 http; declared: fraud\/gateway dependsOn fraud\/credit\)/,
      );
      assert.match(e.message, /device-behavior: declared by fraud\/gateway/);
      return true;
    });
    assert.deepEqual(backend.loads, []);
  });

  it('GIVEN the fraud stack running WHEN a redeploy makes credit send bureau records back THEN it is refused too', async () => {
    const { fw } = await manager();
    const ctx = contextOf(fraudStack());
    await fw.checkDeploy(ctx, []);
    await fw.update(ctx, []);
    await assert.rejects(
      fw.checkDeploy(contextOf(fraudStack((s) => s.credit!.data.emits.push('credit-bureau'))), []),
      { code: 'RAMPART_E_DATA_RULE', message: /meet in fraud\/gateway/ },
    );
    await fw.close();
  });

  it('GIVEN velocity passes device data on WHEN a policy would let credit call velocity THEN policy apply is refused with the path and nothing is applied', async () => {
    const { fw, backend } = await manager();
    const ctx = contextOf(fraudStack((s) => s.velocity!.data.emits.push('device-behavior')));
    // Nothing declares credit -> velocity: the deploy is accepted.
    await fw.checkDeploy(ctx, []);
    await fw.update(ctx, []);
    const creditCallsVelocity = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: credit-egress, namespace: fraud }
spec:
  podSelector: { matchLabels: { app: credit } }
  policyTypes: [Egress]
  egress:
    - to: [{ podSelector: { matchLabels: { app: velocity } } }]
`;
    await assert.rejects(fw.applyPolicyText(creditCallsVelocity, 'credit.yaml'), (e: unknown) => {
      assert.ok(e instanceof RampartError);
      assert.equal(e.code, 'RAMPART_E_DATA_RULE');
      assert.match(e.message, /^refused: credit-bureau and device-behavior meet in fraud\/credit/);
      assert.match(
        e.message,
        /device-behavior: fraud\/velocity -> fraud\/credit \(response from TCP\/8080 http; allowed by fraud\/credit-egress egress\[0\];/,
      );
      return true;
    });
    assert.deepEqual(await fw.listPolicies(), []);
    assert.equal(backend.loads.length, 1);
    await fw.close();
  });

  it('GIVEN learn mode THEN @denied is not read; WHEN a service goes to monitor THEN it is read until learn is back, once more after', async () => {
    const store = await openSqliteStore({ file: ':memory:' });
    await store.migrate();
    stores.push(store);
    let reads = 0;
    const backend = new (class extends MemoryFirewallBackend {
      override readDenied(env: string) {
        reads++;
        return super.readDenied(env);
      }
    })();
    const fw = new FirewallManager({
      environment: ENV,
      exec: recordingExec(),
      backend,
      store,
      clock: { now: () => 1_000, sleep: async () => undefined },
      captureFlows: false,
      deniedPollMs: 10,
      emit: () => undefined,
    });
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const ctx = contextOf(fraudStack());
    await fw.update(ctx, []);
    await wait(100);
    assert.equal(reads, 0, 'learn writes nothing to @denied: nothing to read');
    await fw.setMode('monitor', ['gateway']);
    await wait(100);
    assert.ok(reads >= 3, `${reads} reads in monitor`);
    await fw.setMode('learn', ['gateway']);
    await wait(30);
    const settled = reads;
    await wait(100);
    assert.equal(reads, settled, 'no reads once every service is back in learn');
    await fw.close();
  });

  it('GIVEN a one-policy change THEN the backend gets the compiler’s element delta and loads it as a delta', async () => {
    const { fw, backend } = await manager();
    const ctx = contextOf(fraudStack());
    await fw.update(ctx, []);
    const allow = (port: number) => `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: gateway-egress, namespace: fraud }
spec:
  podSelector: { matchLabels: { app: gateway } }
  policyTypes: [Egress]
  egress:
    - to: [{ podSelector: { matchLabels: { app: scoring } } }]
      ports: [{ protocol: TCP, port: ${port} }]
`;
    await fw.applyPolicyText(allow(8080), 'a.yaml');
    await fw.applyPolicyText(allow(8081), 'a.yaml');
    assert.deepEqual(
      backend.loads.map((l) => l.strategy),
      ['in-place', 'delta', 'delta'],
    );
    await fw.close();
  });
});
