// The firewall through the control plane, on real namespaces: learn from real traffic, propose,
// replay, apply, protect; allowed traffic keeps flowing, a forbidden connection is blocked in the
// kernel and alerted within a second; a policy that would let forbidden data classes meet is
// refused with the path as evidence.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { httpGetScript, inNetns } from '../../src/testing/probe.ts';
import { netnsName } from '../../src/platform/names.ts';
import { RampartError } from '../../src/platform/errors.ts';
import {
  startControlPlaneForTest,
  testEnvironmentName,
  type TestControlPlane,
} from '../../src/testing/control-plane.ts';

const SVC_DIR = fileURLToPath(new URL('../fixtures/foundation', import.meta.url));

const GET = httpGetScript;

describe('firewall through the control plane', { timeout: 240_000 }, () => {
  let cp: TestControlPlane;
  const env = testEnvironmentName('w');
  const ns = (s: string) => netnsName(env, env, s, 0);
  const svc = (name: string, data: string, extra = '') => `
  ${name}:
    command: [node, svc.mjs]
    workdir: ${SVC_DIR}
    ports: [{ name: http, port: 8080 }]
    labels: { tier: ${name} }
    health: { http: { path: /healthz, port: http }, interval: 500ms, timeout: 400ms }
    data: ${data}${extra}`;

  before(async () => {
    cp = await startControlPlaneForTest();
    const file = await cp.writeStack(`
version: 1
name: fw
services:${svc('gateway', '{ reads: [order, device-behavior], emits: [assessment] }')}${svc('velocity', '{ reads: [device-behavior], emits: [device-behavior] }')}${svc('credit', '{ reads: [credit-bureau], emits: [credit-decision] }')}
dataRules:
  - forbid: [credit-bureau, device-behavior]
    reason: bureau data may never be combined with device data
`);
    await cp.daemon.controlPlane.up({ file, environment: env, clientEnv: {} }, () => undefined);
  });

  after(async () => {
    try {
      await cp.daemon.controlPlane.down({ environment: env }, () => undefined);
    } finally {
      await cp.stop({ removeState: true });
    }
  });

  it('GIVEN learn mode WHEN the gateway calls velocity and credit THEN the proposal allows exactly that', async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal(await inNetns(ns('gateway'), GET('http://velocity:8080/whoami')), `${env}/velocity-0`);
      assert.equal(await inNetns(ns('gateway'), GET('http://credit:8080/whoami')), `${env}/credit-0`);
    }
    const f = cp.daemon.controlPlane.firewall(env);
    const edges = await f.learnedEdges();
    const pairs = edges
      // Service to service: the host (the OTLP receiver on the bridge gateway) is always reachable.
      .filter((e) => e.src.kind === 'service' && e.dst.kind === 'service')
      .map((e) => `${(e.src as { service: string }).service}->${(e.dst as { service: string }).service}`);
    assert.deepEqual([...new Set(pairs)].sort(), ['gateway->credit', 'gateway->velocity']);
    const { yaml } = await f.propose();
    const report = await f.test(yaml, 'proposal.yaml');
    assert.equal(report.blocked, 0);
    const applied = await cp.daemon.controlPlane.withFirewall(env, (fw) =>
      fw.applyPolicyText(yaml, 'proposal.yaml'),
    );
    assert.deepEqual(applied.applied.sort(), [`${env}/credit`, `${env}/gateway`, `${env}/velocity`]);
  });

  it('GIVEN protect mode THEN learned calls still work, and velocity -> credit is blocked in the kernel and alerted within 1 s', async () => {
    await cp.daemon.controlPlane.withFirewall(env, (f) => f.setMode('protect', []));
    assert.equal(await inNetns(ns('gateway'), GET('http://velocity:8080/whoami')), `${env}/velocity-0`);
    const credit = cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.service === 'credit')!;
    // Policy-aware discovery: velocity may not reach credit, so it cannot even name it…
    assert.match(
      await inNetns(ns('velocity'), GET('http://credit:8080/whoami')),
      /^ERR (ENOTFOUND|EAI_AGAIN)/,
    );
    // …and by address the kernel refuses it.
    const started = Date.now();
    assert.match(await inNetns(ns('velocity'), GET(`http://${credit.addresses.app}:8080/whoami`)), /^ERR /);
    const f = cp.daemon.controlPlane.firewall(env);
    for (;;) {
      const blocked = (await f.alerts()).find(
        (a) => a.decision === 'blocked' && a.src.service === 'velocity' && a.dst.service === 'credit',
      );
      if (blocked) {
        assert.match(blocked.decidedBy, /no policy allows it/);
        break;
      }
      assert.ok(Date.now() - started < 3000, 'no blocked alert');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('GIVEN the data rule WHEN a policy would let credit call velocity THEN it is refused with the path as evidence', async () => {
    const allowCreditToVelocity = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: credit-to-velocity, namespace: ${env} }
spec:
  podSelector: { matchLabels: { app.kubernetes.io/name: credit } }
  policyTypes: [Egress]
  egress:
    - to: [{ podSelector: { matchLabels: { app.kubernetes.io/name: velocity } } }]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: velocity-from-credit, namespace: ${env} }
spec:
  podSelector: { matchLabels: { app.kubernetes.io/name: velocity } }
  policyTypes: [Ingress]
  ingress:
    - from: [{ podSelector: { matchLabels: { app.kubernetes.io/name: credit } } }]
`;
    await assert.rejects(
      cp.daemon.controlPlane.withFirewall(env, (f) => f.applyPolicyText(allowCreditToVelocity, 'bad.yaml')),
      (e: unknown) =>
        e instanceof RampartError &&
        e.code === 'RAMPART_E_DATA_RULE' &&
        /velocity/.test(e.message) &&
        /credit/.test(e.message),
    );
    const names = (await cp.daemon.controlPlane.firewall(env).listPolicies()).map(
      (p) => p.policy.metadata.name,
    );
    assert.ok(!names.includes('credit-to-velocity'), 'nothing of the refused change was applied');
    const report = await cp.daemon.controlPlane.firewall(env).compliance();
    assert.equal(report.violations.length, 0);
  });
});
