// Issue 7's loop on a real stack: a running service with a vulnerable dependency, an advisory added
// to the local OSV folder, Rampart triggers a (local) GitLab-compatible pipeline with the package and
// fixed version, the "pipeline" deploys the fixed release through the control-plane API, and Rampart
// re-scans the new release and marks the finding resolved with its timeline.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chown, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  startControlPlaneForTest,
  testEnvironmentName,
  type TestControlPlane,
} from '../../src/testing/control-plane.ts';
import { modulesFilesOf, parseModulesRecord, type FindingRecord } from '../../src/vuln/index.ts';

const run = promisify(execFile);
const OSV = fileURLToPath(new URL('../../src/vuln/fixtures/osv', import.meta.url));
const PRELOAD = fileURLToPath(new URL('../../src/vuln/preload/modules.cjs', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/rampart.js', import.meta.url));
const SERVICE_USER = { uid: 999, gid: 995 };

function lockfile(lodash: string): string {
  const pkg = (version: string, name: string) => ({
    version,
    resolved: `https://registry.npmjs.org/${name}/-/${name}-${version}.tgz`,
    license: 'MIT',
  });
  return `${JSON.stringify(
    {
      name: 'api',
      version: '1.0.0',
      lockfileVersion: 3,
      requires: true,
      packages: {
        '': { name: 'api', version: '1.0.0', dependencies: { lodash: `^${lodash}`, minimist: '^1.2.5' } },
        'node_modules/lodash': pkg(lodash, 'lodash'),
        'node_modules/minimist': pkg('1.2.5', 'minimist'),
      },
    },
    null,
    2,
  )}\n`;
}

async function writePackage(dir: string, name: string, version: string): Promise<void> {
  await mkdir(join(dir, 'node_modules', name), { recursive: true });
  await writeFile(
    join(dir, 'node_modules', name, 'package.json'),
    JSON.stringify({ name, version, main: 'index.js' }),
  );
  await writeFile(
    join(dir, 'node_modules', name, 'index.js'),
    `module.exports = { VERSION: '${version}' };\n`,
  );
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

describe('vulnerabilities close their own loop', { timeout: 90_000 }, () => {
  let cp: TestControlPlane;
  let gitlab: Server;
  let work: string;
  /** The stack's folder: the code, its lockfile and node_modules (a release copies it, links node_modules). */
  let codeDir: string;
  let stackFile: string;
  let modulesDir: string;
  const env = testEnvironmentName('v');
  const pipelines: { url: string; form: URLSearchParams }[] = [];
  let pipelineDone: Promise<void> | undefined;

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${cp.daemon.url}${path}`, {
      headers: { authorization: `Bearer ${cp.daemon.token}` },
    });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as T;
  };
  const findings = async () =>
    (await api<{ findings: FindingRecord[] }>(`/v1/vuln/findings?environment=${env}`)).findings;

  /** The CI job: bump lodash to the fixed version, "build", deploy the service through the delivery API. */
  async function pipeline(form: URLSearchParams): Promise<void> {
    const fixed = form.get('variables[RAMPART_FIXED_VERSION]')!;
    await writePackage(codeDir, 'lodash', fixed);
    await writeFile(join(codeDir, 'package-lock.json'), lockfile(fixed));
    const environment = form.get('variables[RAMPART_ENVIRONMENT]')!;
    const res = await fetch(`${cp.daemon.url}/v1/environments/${environment}/deploy`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cp.daemon.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        file: stackFile,
        services: [form.get('variables[RAMPART_SERVICE]')],
        via: 'gitlab pipeline (test)',
      }),
    });
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    assert.equal(lines.at(-1)!.type, 'done', JSON.stringify(lines.at(-1)));
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'rampart-vuln-e2e-'));
    await mkdir(join(work, 'advisories'));
    gitlab = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        pipelines.push({ url: req.url ?? '', form });
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 100 + pipelines.length, status: 'created' }));
        pipelineDone = pipeline(form);
      });
    });
    await new Promise<void>((r) => gitlab.listen(0, '127.0.0.1', r));
    const gitlabUrl = `http://127.0.0.1:${(gitlab.address() as { port: number }).port}`;

    cp = await startControlPlaneForTest({
      readyTimeoutMs: 30_000,
      env: { RAMPART_ADVISORIES: join(work, 'advisories'), RAMPART_VULN_POLL: '300ms' },
    });
    codeDir = join(cp.stateDir, 'stacks');
    modulesDir = join(cp.stateDir, 'modules');
    await mkdir(join(codeDir, 'api'), { recursive: true, mode: 0o755 });
    await mkdir(modulesDir, { mode: 0o755 });
    await chown(modulesDir, SERVICE_USER.uid, SERVICE_USER.gid);
    await writeFile(join(codeDir, 'gitlab-token'), 'glptt-e2e\n');
    await writePackage(codeDir, 'lodash', '4.17.20');
    await writePackage(codeDir, 'minimist', '1.2.5');
    await writeFile(join(codeDir, 'package-lock.json'), lockfile('4.17.20'));
    await writeFile(
      join(codeDir, 'api', 'server.cjs'),
      "const lodash = require('lodash');\nrequire('node:http').createServer((q, s) => s.end(q.url === '/version' ? lodash.VERSION : 'ok')).listen(8080);\n",
    );
    stackFile = await cp.writeStack(`
version: 1
name: vulnloop
services:
  api:
    command: [node, server.cjs]
    workdir: ./api
    ports: [{ name: http, port: 8080 }]
    health: { http: { path: /healthz, port: http }, interval: 300ms, timeout: 300ms }
    tracing: false
    deploy: { drainTimeout: 0s }
    env:
      NODE_OPTIONS: --require ${PRELOAD}
      RAMPART_MODULES_FILE: ${modulesDir}/api-{pid}.json
      RAMPART_MODULES_INTERVAL_MS: "300"
    ci:
      gitlab:
        url: ${gitlabUrl}
        project: shop/api
        ref: main
        token: { fromFile: ./gitlab-token }
      when: { severity: high, loaded: not-unloaded }
`);
    try {
      await cp.daemon.controlPlane.up({ file: stackFile, environment: env, clientEnv: {} }, () => undefined);
    } catch (error) {
      const logs = await run('sh', [
        '-c',
        `find ${cp.stateDir}/logs -type f -name "*.log" -exec tail -n 20 {} + 2>&1 || true`,
      ]);
      throw new Error(`${(error as Error).message}\n${logs.stdout}`);
    }
  });

  after(async () => {
    try {
      await pipelineDone?.catch(() => undefined);
      await cp.daemon.controlPlane.down({ environment: env }, () => undefined);
    } finally {
      await cp.stop({ removeState: true });
      await new Promise((r) => gitlab.close(r));
      await rm(work, { recursive: true, force: true });
    }
  });

  it('GIVEN the service runs with the modules preload THEN its record shows lodash loaded and minimist not', async () => {
    const record = await until('a module record', async () => {
      for (const f of await modulesFilesOf(join(modulesDir, 'api-{pid}.json'))) {
        const r = parseModulesRecord(await readFile(f, 'utf8'));
        if (r?.packages.some((p) => p.name === 'lodash')) return r;
      }
      return undefined;
    });
    assert.deepEqual(
      record.packages.map((p) => `${p.name}@${p.version}`),
      ['lodash@4.17.20'],
    );
    assert.deepEqual(await findings(), []);
  });

  it('GIVEN advisories for lodash and minimist arrive WHEN Rampart re-matches THEN it triggers the pipeline for the loaded one with the right variables', async () => {
    await copyFile(
      join(OSV, 'GHSA-35jh-r3h4-6jhm.json'),
      join(work, 'advisories', 'GHSA-35jh-r3h4-6jhm.json'),
    );
    await copyFile(
      join(OSV, 'GHSA-xvch-5gv4-984h.json'),
      join(work, 'advisories', 'GHSA-xvch-5gv4-984h.json'),
    );
    await until('the pipeline trigger', async () => (pipelines.length > 0 ? true : undefined));
    const { url, form } = pipelines[0]!;
    assert.equal(url, '/api/v4/projects/shop%2Fapi/trigger/pipeline');
    assert.deepEqual(
      [
        'token',
        'ref',
        'variables[RAMPART_PACKAGE]',
        'variables[RAMPART_INSTALLED_VERSION]',
        'variables[RAMPART_FIXED_VERSION]',
        'variables[RAMPART_ADVISORY]',
        'variables[RAMPART_ALIASES]',
        'variables[RAMPART_SERVICE]',
        'variables[RAMPART_ENVIRONMENT]',
      ].map((k) => form.get(k)),
      [
        'glptt-e2e',
        'main',
        'lodash',
        '4.17.20',
        '4.17.21',
        'GHSA-35jh-r3h4-6jhm',
        'CVE-2021-23337',
        'api',
        env,
      ],
    );
    const minimist = (await findings()).find((f) => f.package === 'minimist')!;
    assert.equal(minimist.current[0]!.loaded, false);
    assert.equal(minimist.decision!.action, 'alert');
    assert.match(minimist.current[0]!.evidence, /^not among the/);
  });

  it('GIVEN the pipeline deployed the fixed release WHEN Rampart re-scans THEN the finding is resolved with found, triggered, deployed and verified', async () => {
    const resolved = await until(
      'the finding resolved',
      async () => {
        const f = (await findings()).find((x) => x.package === 'lodash');
        return f?.state === 'resolved' ? f : undefined;
      },
      40_000,
    );
    await pipelineDone;
    assert.deepEqual(
      resolved.timeline.map((t) => t.event),
      ['found', 'alert', 'triggered', 'deployed', 'verified', 'resolved'],
    );
    assert.match(resolved.timeline[0]!.detail, /lodash@4\.17\.20 .*loaded: true/);
    assert.match(resolved.timeline[2]!.detail, /^gitlab pipeline 101 \(201\)/);
    assert.match(resolved.timeline[3]!.detail, /^release [0-9a-f]{16} runs lodash@4\.17\.21$/);
    assert.equal(pipelines.length, 1);
    const { stdout } = await run(process.execPath, [
      BIN,
      '--state-dir',
      cp.stateDir,
      '-e',
      env,
      'vuln',
      'show',
      resolved.id,
    ]);
    assert.match(stdout, /^.*resolved$/m);
    assert.match(stdout, /verified +re-scan of release/);
  });
});
