import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, type Store } from '../store/index.ts';
import { VulnManager, type FindingRecord } from './index.ts';
import type { ResolvedCi } from '../stack/index.ts';

const osv = (f: string) => fileURLToPath(new URL(`./fixtures/osv/${f}`, import.meta.url));

function lockfile(lodash: string): string {
  return JSON.stringify({
    name: 'api',
    version: '1.0.0',
    lockfileVersion: 3,
    packages: {
      '': { name: 'api', version: '1.0.0', dependencies: { lodash: `^${lodash}`, yallist: '^4.0.0' } },
      'node_modules/lodash': { version: lodash },
      'node_modules/yallist': { version: '4.0.0' },
    },
  });
}

describe('VulnManager: advisory change -> finding -> CI trigger -> new release -> resolved', () => {
  let dir: string;
  let store: Store;
  let server: Server;
  const calls: { url: string; form: URLSearchParams }[] = [];
  let manager: VulnManager;
  let now = Date.UTC(2026, 10, 26, 9, 0, 0);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rampart-vuln-'));
    await mkdir(join(dir, 'advisories'));
    await mkdir(join(dir, 'api'));
    await writeFile(join(dir, 'api', 'package-lock.json'), lockfile('4.17.20'));
    await writeFile(join(dir, 'trigger-token'), 'glptt-secret\n');
    store = await openStore({ stateDir: dir });
    await store.migrate();
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        calls.push({ url: req.url ?? '', form: new URLSearchParams(body) });
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 4711, web_url: 'http://gitlab.test/p/-/pipelines/4711' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const ci: ResolvedCi = {
      target: {
        kind: 'gitlab',
        url: `http://127.0.0.1:${port}`,
        project: 'shop/api',
        ref: 'main',
        token: { fromFile: join(dir, 'trigger-token') },
      },
      when: { severity: 'high', fixAvailable: true, loaded: 'any', production: true, maxPerHour: 10 },
    };
    manager = new VulnManager({
      store,
      clock: { now: () => (now += 1000), sleep: async () => undefined },
      releases: async () => [{ environment: 'prod', service: 'api', dir: join(dir, 'api'), ci }],
      advisoryPath: join(dir, 'advisories'),
    });
  });

  after(async () => {
    manager.stop();
    await new Promise((r) => server.close(r));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('GIVEN no advisories WHEN a pass runs THEN nothing is found', async () => {
    await manager.tick();
    assert.deepEqual(await manager.findings(), []);
  });

  it('GIVEN an advisory added to the folder WHEN a pass runs THEN the finding is recorded and GitLab is triggered with the variables', async () => {
    await copyFile(osv('GHSA-35jh-r3h4-6jhm.json'), join(dir, 'advisories', 'GHSA-35jh-r3h4-6jhm.json'));
    await manager.tick();
    const [f] = await manager.findings();
    assert.equal(f!.state, 'triggered');
    assert.deepEqual(
      [f!.advisory, f!.package, f!.fixedVersion, f!.aliases],
      ['GHSA-35jh-r3h4-6jhm', 'lodash', '4.17.21', ['CVE-2021-23337']],
    );
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.url, '/api/v4/projects/shop%2Fapi/trigger/pipeline');
    const form = calls[0]!.form;
    assert.deepEqual(
      [
        form.get('token'),
        form.get('ref'),
        form.get('variables[RAMPART_PACKAGE]'),
        form.get('variables[RAMPART_FIXED_VERSION]'),
        form.get('variables[RAMPART_FINDING]'),
      ],
      ['glptt-secret', 'main', 'lodash', '4.17.21', f!.id],
    );
    const alerts = await manager.alerts('prod');
    assert.equal(alerts.length, 1);
    assert.match(
      alerts[0]!.message,
      /^high GHSA-35jh-r3h4-6jhm \(CVE-2021-23337\) in lodash@4\.17\.20 of api: fix 4\.17\.21; triggering CI$/,
    );
  });

  it('GIVEN an advisory with no fix WHEN it arrives THEN a "no fix" alert is raised and nothing is triggered', async () => {
    await copyFile(
      osv('traps/TEST-LAST-AFFECTED-0002.json'),
      join(dir, 'advisories', 'TEST-LAST-AFFECTED-0002.json'),
    );
    await manager.tick();
    const f = (await manager.findings()).find((r) => r.package === 'yallist')!;
    assert.equal(f.state, 'open');
    assert.deepEqual(
      f.timeline.map((t) => t.event),
      ['found', 'no-fix', 'alert'],
    );
    assert.match(
      (await manager.alerts('prod')).find((a) => a.kind === 'no-fix')!.message,
      /no fix available yet$/,
    );
    assert.equal(calls.length, 1);
  });

  it('GIVEN the pipeline deployed a release with the fixed version WHEN a pass runs THEN the finding is resolved with the whole timeline', async () => {
    await writeFile(join(dir, 'api', 'package-lock.json'), lockfile('4.17.21'));
    await manager.tick();
    const f = (await manager.findings()).find((r) => r.package === 'lodash') as FindingRecord;
    assert.equal(f.state, 'resolved');
    assert.deepEqual(
      f.timeline.map((t) => t.event),
      ['found', 'alert', 'triggered', 'deployed', 'verified', 'resolved'],
    );
    assert.match(f.timeline[3]!.detail, /runs lodash@4\.17\.21/);
    // The stored document is what a restarted daemon reads.
    const doc = await store.getDocument('vuln.finding', 'prod', 'api/GHSA-35jh-r3h4-6jhm/lodash');
    assert.equal((doc!.value as FindingRecord).state, 'resolved');
    assert.equal((await manager.findings()).find((r) => r.package === 'yallist')!.state, 'open');
  });

  it('GIVEN an advisory file removed from the folder WHEN a pass runs THEN its finding resolves as "advisory data changed"', async () => {
    await rm(join(dir, 'advisories', 'TEST-LAST-AFFECTED-0002.json'));
    await manager.tick();
    const f = (await manager.findings()).find((r) => r.package === 'yallist')!;
    assert.equal(f.state, 'resolved');
    assert.match(f.timeline.at(-2)!.detail, /^advisory data changed/);
    assert.ok((await readFile(join(dir, 'api', 'package-lock.json'), 'utf8')).includes('4.17.21'));
  });
});
