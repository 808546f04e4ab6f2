import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { recordingExec } from '../platform/exec.ts';
import { intToIp, ipToInt, planEnvironmentAddressing } from './addressing.ts';
import { FULL_FIXTURE, GOLDEN_CASES, goldenPath } from './golden/cases.ts';
import { applyRuleset, renderRuleset, type LoadBalancedService } from './nft.ts';

const addressing = planEnvironmentAddressing('198.18.16.0/20');

describe('renderRuleset', () => {
  for (const [name, input] of Object.entries(GOLDEN_CASES)) {
    it(`GIVEN the ${name} fixture WHEN rendering THEN the output equals golden/${name}`, () => {
      const actual = renderRuleset(input);
      // RAMPART_UPDATE_GOLDEN=1 rewrites the files; review the diff before committing it.
      if (process.env.RAMPART_UPDATE_GOLDEN === '1') writeFileSync(goldenPath(name), actual);
      assert.equal(actual, readFileSync(goldenPath(name), 'utf8'));
    });
  }

  it('GIVEN endpoints in a given order THEN numgen index i maps to the i-th endpoint (duplicates dropped)', () => {
    const text = renderRuleset({
      env: 'demo',
      addressing,
      services: [{ ...web(), endpoints: ['198.18.16.7', '198.18.16.3', '198.18.16.7'] }],
    });
    assert.match(text, /dnat to numgen inc mod 2 map \{ 0 : 198\.18\.16\.7, 1 : 198\.18\.16\.3 \}/);
  });

  it('GIVEN 1 or 500 services THEN the hooked chains hold the same rules (lookups are maps, not rule lists)', () => {
    const hooked = (text: string) =>
      text
        .split('\n\tchain ')
        .filter((c) => /^(nat|filter)-/.test(c))
        .join('\n');
    const many = Array.from({ length: 500 }, (_, i): LoadBalancedService => ({
      ...web(),
      name: `svc-${i}`,
      vip: intToIp(ipToInt('198.18.28.2') + i),
      endpoints: [intToIp(ipToInt('198.18.16.2') + i)],
      publish: [],
    }));
    assert.equal(
      hooked(renderRuleset({ env: 'demo', addressing, services: many })),
      hooked(renderRuleset({ env: 'demo', addressing, services: [web()] })),
    );
  });

  it('GIVEN two services publishing one host port THEN RAMPART_E_CONFLICT names both', () => {
    assert.throws(
      () =>
        renderRuleset({
          env: 'demo',
          addressing,
          services: [web(), { ...web(), name: 'admin', vip: '198.18.28.9' }],
        }),
      {
        code: 'RAMPART_E_CONFLICT',
        message: 'host port tcp/8080 is published by both shop/web and shop/admin',
      },
    );
  });

  it('GIVEN a VIP or endpoint outside the environment THEN RAMPART_E_ADDRESS_SPACE', () => {
    assert.throws(
      () => renderRuleset({ env: 'demo', addressing, services: [{ ...web(), vip: '198.18.16.50' }] }),
      {
        code: 'RAMPART_E_ADDRESS_SPACE',
        message: 'VIP 198.18.16.50 of shop/web is outside 198.18.28.0/23 and 198.18.30.0/23',
      },
    );
    assert.throws(
      () => renderRuleset({ env: 'demo', addressing, services: [{ ...web(), endpoints: ['10.0.0.1'] }] }),
      {
        code: 'RAMPART_E_ADDRESS_SPACE',
        message: "endpoint 10.0.0.1 of shop/web is outside the environment's subnets",
      },
    );
  });
});

describe('applyRuleset', () => {
  it('GIVEN a ruleset WHEN applying THEN one `nft -f <tmpfile>` replaces the table atomically and the file is removed', async () => {
    let seen = '';
    const exec = recordingExec((argv) => {
      if (argv[0] === 'nft') seen = readFileSync(argv[2]!, 'utf8');
      return undefined;
    });
    await applyRuleset(exec, FULL_FIXTURE);
    assert.equal(exec.calls.length, 1);
    const [nft, flag, file] = exec.calls[0]!.argv;
    assert.deepEqual([nft, flag], ['nft', '-f']);
    assert.match(file!, /rampart-demo-[0-9a-f]{12}\.nft$/);
    assert.equal(
      seen,
      `table ip rampart_demo {}\ndelete table ip rampart_demo\n${renderRuleset(FULL_FIXTURE)}`,
    );
    assert.equal(existsSync(file!), false);
  });

  it('GIVEN nft fails THEN the error propagates and the temp file is still removed', async () => {
    let file = '';
    const exec = recordingExec((argv) => {
      file = argv[2] ?? '';
      return { code: 1, stderr: 'Error: syntax error' };
    });
    await assert.rejects(applyRuleset(exec, FULL_FIXTURE), { code: 'RAMPART_E_EXEC_FAILED' });
    assert.equal(existsSync(file), false);
  });
});

function web(): LoadBalancedService {
  return {
    namespace: 'shop',
    name: 'web',
    vip: '198.18.28.2',
    ports: [{ port: 80, protocol: 'TCP' }],
    endpoints: ['198.18.16.2'],
    publish: [{ hostPort: 8080, port: 80, protocol: 'TCP' }],
  };
}
