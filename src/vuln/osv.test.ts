import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { AdvisoryIndex, cvss3BaseScore, loadAdvisories, matchVersion, scanPath } from './index.ts';
import type { OsvRecord } from './index.ts';

const osvDir = fileURLToPath(new URL('./fixtures/osv', import.meta.url));
const lockDir = (p: string) => fileURLToPath(new URL(`./fixtures/lockfiles/${p}`, import.meta.url));

async function fixtureIndex(): Promise<AdvisoryIndex> {
  const loaded = await loadAdvisories(osvDir);
  assert.deepEqual(loaded.problems, []);
  return new AdvisoryIndex(loaded.records);
}

/** `name@version` -> advisory ids (with their fixed version). */
function hits(index: AdvisoryIndex, name: string, version: string): string[] {
  return matchVersion(index, name, version).map(
    (m) => `${m.advisory.id}${m.fixedVersion ? `>${m.fixedVersion}` : ''}`,
  );
}

describe('OSV matching of the real advisories', () => {
  it('GIVEN lodash versions around the fixed boundaries WHEN matched THEN the fixed version itself is not affected', async () => {
    const index = await fixtureIndex();
    assert.deepEqual(hits(index, 'lodash', '4.17.21'), []);
    assert.deepEqual(hits(index, 'lodash', '4.17.20'), ['GHSA-35jh-r3h4-6jhm>4.17.21']);
    assert.deepEqual(hits(index, 'lodash', '4.17.19'), ['GHSA-35jh-r3h4-6jhm>4.17.21']);
    assert.deepEqual(hits(index, 'lodash', '4.17.18'), [
      'GHSA-35jh-r3h4-6jhm>4.17.21',
      'GHSA-p6mc-m468-83gw>4.17.19',
    ]);
    // p6mc was introduced in 3.7.0.
    assert.deepEqual(hits(index, 'lodash', '3.6.0'), ['GHSA-35jh-r3h4-6jhm>4.17.21']);
    assert.deepEqual(hits(index, 'lodash-es', '4.17.20'), ['GHSA-35jh-r3h4-6jhm>4.17.21']);
  });

  it('GIVEN minimist and semver, whose advisories have several ranges WHEN matched THEN the fix is the lowest one above the installed version', async () => {
    const index = await fixtureIndex();
    assert.deepEqual(hits(index, 'minimist', '0.0.8'), ['GHSA-xvch-5gv4-984h>0.2.4']);
    assert.deepEqual(hits(index, 'minimist', '0.2.4'), []);
    assert.deepEqual(hits(index, 'minimist', '1.0.0'), ['GHSA-xvch-5gv4-984h>1.2.6']);
    assert.deepEqual(hits(index, 'minimist', '1.2.5'), ['GHSA-xvch-5gv4-984h>1.2.6']);
    assert.deepEqual(hits(index, 'minimist', '1.2.6'), []);
    assert.deepEqual(hits(index, 'semver', '5.7.1'), ['GHSA-c2qf-rxjj-qqgw>5.7.2']);
    assert.deepEqual(hits(index, 'semver', '6.3.0'), ['GHSA-c2qf-rxjj-qqgw>6.3.1']);
    assert.deepEqual(hits(index, 'semver', '6.3.1'), []);
    assert.deepEqual(hits(index, 'semver', '7.5.1'), ['GHSA-c2qf-rxjj-qqgw>7.5.2']);
    assert.deepEqual(hits(index, 'semver', '7.5.2'), []);
  });

  it('GIVEN a prerelease of a fixed version WHEN matched THEN it is affected (SemVer orders 7.5.2-rc.1 before 7.5.2)', async () => {
    const index = await fixtureIndex();
    assert.deepEqual(hits(index, 'semver', '7.5.2-rc.1'), ['GHSA-c2qf-rxjj-qqgw>7.5.2']);
    assert.deepEqual(hits(index, 'semver', '7.5.1-beta'), ['GHSA-c2qf-rxjj-qqgw>7.5.2']);
    // 7.0.0-beta precedes 7.0.0, where the 7.x range opens, and follows the 6.x fix.
    assert.deepEqual(hits(index, 'semver', '7.0.0-beta'), []);
  });

  it('GIVEN the advisories WHEN indexed THEN aliases and severities come from the record (CVSS v3 score first)', async () => {
    const index = await fixtureIndex();
    const info = (id: string) => index.info(id)!;
    assert.deepEqual(info('GHSA-35jh-r3h4-6jhm').aliases, ['CVE-2021-23337']);
    assert.deepEqual(
      [info('GHSA-35jh-r3h4-6jhm').severity, info('GHSA-35jh-r3h4-6jhm').score],
      ['high', 7.2],
    );
    assert.deepEqual(
      [info('GHSA-p6mc-m468-83gw').severity, info('GHSA-p6mc-m468-83gw').score],
      ['high', 7.4],
    );
    assert.deepEqual(
      [info('GHSA-xvch-5gv4-984h').severity, info('GHSA-xvch-5gv4-984h').score],
      ['critical', 9.8],
    );
    assert.deepEqual(
      [info('GHSA-c2qf-rxjj-qqgw').severity, info('GHSA-c2qf-rxjj-qqgw').score],
      ['moderate', 5.3],
    );
    assert.equal(info('TEST-LAST-AFFECTED-0002').severity, 'low');
    assert.equal(cvss3BaseScore('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H'), 10);
    assert.equal(cvss3BaseScore('CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N'), 1.8);
    assert.equal(
      cvss3BaseScore('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'),
      undefined,
    );
  });
});

describe('OSV matching traps', () => {
  it('GIVEN a withdrawn record WHEN indexed THEN it matches nothing', async () => {
    const index = await fixtureIndex();
    assert.equal(index.withdrawn, 1);
    assert.equal(index.has('TEST-WITHDRAWN-0001'), false);
    assert.deepEqual(hits(index, 'lodash', '4.17.21'), []);
  });

  it('GIVEN last_affected WHEN matched THEN it is inclusive and there is no fixed version', async () => {
    const index = await fixtureIndex();
    assert.deepEqual(hits(index, 'yallist', '2.9.9'), []);
    assert.deepEqual(hits(index, 'yallist', '3.0.0'), ['TEST-LAST-AFFECTED-0002']);
    assert.deepEqual(hits(index, 'yallist', '4.0.0'), ['TEST-LAST-AFFECTED-0002']);
    assert.deepEqual(hits(index, 'yallist', '4.0.1'), []);
  });

  it('GIVEN unsorted events with two introduced, prereleases and a versions list WHEN matched THEN OSV evaluation order holds', async () => {
    const index = await fixtureIndex();
    assert.deepEqual(hits(index, 'lru-cache', '4.1.4'), []);
    assert.deepEqual(hits(index, 'lru-cache', '4.1.5'), ['TEST-UNSORTED-0003>5.1.2']);
    assert.deepEqual(hits(index, 'lru-cache', '5.0.0'), ['TEST-UNSORTED-0003>5.1.2']);
    assert.deepEqual(hits(index, 'lru-cache', '5.1.2'), []);
    assert.deepEqual(hits(index, 'lru-cache', '6.0.0-beta.1'), []);
    assert.deepEqual(hits(index, 'lru-cache', '6.0.0-beta.2'), ['TEST-UNSORTED-0003>6.0.1']);
    assert.deepEqual(hits(index, 'lru-cache', '6.0.0'), ['TEST-UNSORTED-0003>6.0.1']);
    assert.deepEqual(hits(index, 'lru-cache', '6.0.1'), []);
    assert.equal(index.info('TEST-UNSORTED-0003')!.severity, 'critical');
  });

  it('GIVEN a malicious-package report WHEN matched THEN every version is affected, critical, with no fix', async () => {
    const index = await fixtureIndex();
    const [m] = matchVersion(index, 'cli-args', '3.1.0');
    assert.deepEqual(
      [m!.advisory.id, m!.advisory.malicious, m!.advisory.severity, m!.fixedVersion],
      ['MAL-2026-0004', true, 'critical', undefined],
    );
  });

  it('GIVEN other ecosystems, GIT ranges and a version that is not SemVer WHEN matched THEN they never match', () => {
    const records: OsvRecord[] = [
      {
        id: 'PYSEC-1',
        affected: [{ package: { ecosystem: 'PyPI', name: 'lodash' }, versions: ['4.17.20'] }],
      },
      {
        id: 'GIT-1',
        affected: [
          {
            package: { ecosystem: 'npm', name: 'x' },
            ranges: [{ type: 'GIT', events: [{ introduced: '0' }] }],
          },
        ],
      },
      {
        id: 'LIST-1',
        affected: [{ package: { ecosystem: 'npm', name: 'y' }, versions: ['github:y/y#abc'] }],
      },
    ];
    const index = new AdvisoryIndex(records);
    assert.deepEqual(hits(index, 'lodash', '4.17.20'), []);
    assert.deepEqual(hits(index, 'x', '1.0.0'), []);
    assert.deepEqual(hits(index, 'y', 'github:y/y#abc'), ['LIST-1']);
    assert.deepEqual(hits(index, 'y', '1.0.0'), []);
  });
});

describe('scan of a lockfile', () => {
  it('GIVEN the v3 fixture with a nested duplicate WHEN scanned THEN only the vulnerable copy is reported, with its path', async () => {
    const r = await scanPath(lockDir('npm-v3'), osvDir);
    const summary = r.findings.map((f) => [
      f.key,
      f.severity,
      f.fixedVersion,
      f.production,
      f.paths.join(','),
    ]);
    assert.deepEqual(summary, [
      ['GHSA-xvch-5gv4-984h:minimist@1.2.5', 'critical', '1.2.6', false, 'node_modules/minimist'],
      ['GHSA-35jh-r3h4-6jhm:lodash@4.17.15', 'high', '4.17.21', true, 'node_modules/lodash-old'],
      [
        'GHSA-35jh-r3h4-6jhm:lodash@4.17.20',
        'high',
        '4.17.21',
        true,
        'node_modules/legacy-lib/node_modules/lodash',
      ],
      ['GHSA-p6mc-m468-83gw:lodash@4.17.15', 'high', '4.17.19', true, 'node_modules/lodash-old'],
      ['GHSA-c2qf-rxjj-qqgw:semver@7.5.1', 'moderate', '7.5.2', true, 'node_modules/semver'],
    ]);
    assert.ok(r.findings.every((f) => f.loaded === 'unknown'));
    assert.deepEqual(r.findings[1]!.aliases, ['CVE-2021-23337']);
  });

  it('GIVEN module records of the running replicas WHEN scanned THEN loaded is true or false with the evidence', async () => {
    const evidence = {
      records: [
        {
          file: '/run/modules-1.json',
          record: {
            pid: 41,
            cwd: '/srv/api',
            startedAt: 0,
            updatedAt: Date.UTC(2026, 10, 26),
            final: false,
            packages: [{ name: 'semver', version: '7.5.1', dir: '/srv/api/node_modules/semver' }],
          },
        },
      ],
    };
    const r = await scanPath(lockDir('npm-v3'), osvDir, evidence);
    const semverFinding = r.findings.find((f) => f.package === 'semver')!;
    assert.equal(semverFinding.loaded, true);
    assert.match(semverFinding.evidence, /^pid 41 loaded \/srv\/api\/node_modules\/semver/);
    const lodash = r.findings.find((f) => f.version === '4.17.20')!;
    assert.equal(lodash.loaded, false);
    assert.match(lodash.evidence, /not among the 1 package loads recorded by 1 process/);
  });
});
