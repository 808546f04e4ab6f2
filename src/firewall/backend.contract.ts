import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { revisionOf, type DeniedEntry } from './apply.ts';
import type { FirewallBackend } from './backend.ts';
import { compileFirewall } from './compile.ts';
import { MODEL_FIXTURE } from './golden/cases.ts';
import { policy } from './golden/model.ts';

export interface FirewallBackendFixture {
  backend: FirewallBackend;
  /** An environment name no one else uses; the suite removes its table at the end. */
  env: string;
  /** Plays a denied packet: the element the drop path would add to `@denied`. */
  recordDenied(entry: Pick<DeniedEntry, 'srcIp' | 'dstIp' | 'protocol' | 'dstPort'>): Promise<void>;
  cleanup?(): Promise<void>;
}

/**
 * What every FirewallBackend driver must do (nftables in the kernel, the in-memory one). The texts
 * are the compiler's own output for the golden x/y model, so a driver sees what production loads.
 */
export function runFirewallBackendContract(name: string, make: () => Promise<FirewallBackendFixture>): void {
  describe(`FirewallBackend contract: ${name}`, { timeout: 60_000 }, () => {
    let fx: FirewallBackendFixture;
    let v1: string;
    let v2: string;
    let v3: string;
    const denied = { srcIp: '198.18.16.13', dstIp: '198.18.16.10', protocol: 'TCP', dstPort: 80 };
    const essentials = (entries: readonly DeniedEntry[]) =>
      entries.map((e) => ({ srcIp: e.srcIp, dstIp: e.dstIp, protocol: e.protocol, dstPort: e.dstPort }));

    before(async () => {
      fx = await make();
      const input = { ...MODEL_FIXTURE, env: fx.env };
      v1 = compileFirewall(input);
      // One more allowance: y/c may reach x/a on TCP 82.
      v2 = compileFirewall({
        ...input,
        policies: [
          ...input.policies,
          policy('x', 'extra', {
            podSelector: { matchLabels: { pod: 'a' } },
            ingress: [
              {
                from: [
                  {
                    namespaceSelector: { matchLabels: { ns: 'y' } },
                    podSelector: { matchLabels: { pod: 'c' } },
                  },
                ],
                ports: [{ protocol: 'TCP', port: 82 }],
              },
            ],
          }),
        ],
      });
      // Another layout: a set declared with other flags (what another Rampart version may load).
      v3 = v2.replace(
        '\tset pods {\n\t\ttype ipv4_addr\n',
        '\tset pods {\n\t\ttype ipv4_addr\n\t\tflags interval\n',
      );
      assert.notEqual(v3, v2);
    });

    after(async () => {
      try {
        await fx?.backend.remove(fx.env);
      } finally {
        await fx?.cleanup?.();
      }
    });

    it('GIVEN no table THEN there is no revision, nothing denied, and removing it is not an error', async () => {
      assert.equal(await fx.backend.revision(fx.env), undefined);
      assert.deepEqual(await fx.backend.readDenied(fx.env), []);
      await fx.backend.remove(fx.env);
    });

    it('GIVEN a first load THEN it is in place and the backend holds its revision', async () => {
      assert.deepEqual(await fx.backend.apply(fx.env, v1), {
        strategy: 'in-place',
        revision: revisionOf(v1),
      });
      assert.equal(await fx.backend.revision(fx.env), revisionOf(v1));
      assert.deepEqual(await fx.backend.readDenied(fx.env), []);
    });

    it('GIVEN a recorded denial WHEN a one-rule change lands with the previous text THEN it is a delta and the denial stays', async () => {
      await fx.recordDenied(denied);
      assert.deepEqual(essentials(await fx.backend.readDenied(fx.env)), [denied]);
      assert.deepEqual(await fx.backend.apply(fx.env, v2, { previous: v1 }), {
        strategy: 'delta',
        revision: revisionOf(v2),
      });
      assert.equal(await fx.backend.revision(fx.env), revisionOf(v2));
      assert.deepEqual(essentials(await fx.backend.readDenied(fx.env)), [denied]);
    });

    it('GIVEN a previous text the backend does not hold THEN the load is in place, not a delta', async () => {
      const r = await fx.backend.apply(fx.env, v1, { previous: v1 });
      assert.deepEqual(r, { strategy: 'in-place', revision: revisionOf(v1) });
      assert.equal(await fx.backend.revision(fx.env), revisionOf(v1));
      assert.deepEqual(essentials(await fx.backend.readDenied(fx.env)), [denied]);
    });

    it('GIVEN another layout THEN the contents are replaced, and @denied (declared the same) stays', async () => {
      const r = await fx.backend.apply(fx.env, v3, { previous: v1 });
      assert.deepEqual(r, { strategy: 'replace', revision: revisionOf(v3) });
      assert.equal(await fx.backend.revision(fx.env), revisionOf(v3));
      assert.deepEqual(essentials(await fx.backend.readDenied(fx.env)), [denied]);
    });

    it('GIVEN strategy replace THEN the contents are replaced even when a delta would do', async () => {
      const r = await fx.backend.apply(fx.env, v1, { previous: v3, strategy: 'replace' });
      assert.deepEqual(r, { strategy: 'replace', revision: revisionOf(v1) });
      assert.equal(await fx.backend.revision(fx.env), revisionOf(v1));
    });

    it('GIVEN the ruleset of another environment THEN it is refused and the table is unchanged', async () => {
      await assert.rejects(fx.backend.apply(`${fx.env}z`, v1), { code: 'RAMPART_E_INTERNAL' });
      assert.equal(await fx.backend.revision(fx.env), revisionOf(v1));
      assert.equal(await fx.backend.revision(`${fx.env}z`), undefined);
    });

    it('GIVEN remove THEN the table and its denials are gone, and a second remove is not an error', async () => {
      await fx.backend.remove(fx.env);
      assert.equal(await fx.backend.revision(fx.env), undefined);
      assert.deepEqual(await fx.backend.readDenied(fx.env), []);
      await fx.backend.remove(fx.env);
    });
  });
}
