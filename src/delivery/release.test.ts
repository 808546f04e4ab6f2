import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile, appendFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Exec } from '../platform/exec.ts';
import { parseStack } from '../stack/index.ts';
import { computeReleases, prepareReleases } from './release.ts';

const noExec: Exec = async (argv) => {
  throw new Error(`unexpected ${argv.join(' ')}`);
};

describe('releases', () => {
  let dir = '';
  const stackText = `version: 1
name: shop
services:
  web:
    command: [node, server.js]
    workdir: ./services/web
  api:
    command: [node, server.js]
    workdir: ./services/api
    config: { answer: 42 }
`;
  const load = async () =>
    parseStack({
      text: await readFile(join(dir, 'rampart.yaml'), 'utf8'),
      file: join(dir, 'rampart.yaml'),
      environment: 'prod',
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rampart-release-'));
    for (const s of ['web', 'api']) {
      await mkdir(join(dir, 'services', s), { recursive: true });
      await writeFile(join(dir, 'services', s, 'server.js'), `import '../../lib/x.js'; // ${s}\n`);
    }
    await mkdir(join(dir, 'lib'));
    await writeFile(join(dir, 'lib', 'x.js'), 'export {};\n');
    await writeFile(join(dir, 'rampart.yaml'), stackText);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(`${dir}-state`, { recursive: true, force: true });
  });

  it("GIVEN a stack WHEN hashed THEN each release holds the stack's folder but the stack file", async () => {
    const r = await computeReleases(await load());
    assert.deepEqual(r.get('prod/web')!.files, [
      'lib/x.js',
      'services/api/server.js',
      'services/web/server.js',
    ]);
    assert.equal(r.get('prod/web')!.workdir, 'services/web');
  });

  it('GIVEN a one-line change WHEN hashed again THEN the release id changes', async () => {
    const first = await computeReleases(await load());
    await appendFile(join(dir, 'services', 'web', 'server.js'), '// one line\n');
    const second = await computeReleases(await load());
    assert.notEqual(second.get('prod/web')!.id, first.get('prod/web')!.id);
  });

  it('GIVEN a config change WHEN hashed THEN it is a new release of that service', async () => {
    const first = await computeReleases(await load());
    const stack = await load();
    const changed = {
      ...stack,
      services: stack.services.map((s) => (s.name === 'api' ? { ...s, config: { answer: 43 } } : s)),
    };
    assert.notEqual((await computeReleases(changed)).get('prod/api')!.id, first.get('prod/api')!.id);
  });

  it('GIVEN a release WHEN made twice THEN the second is a no-op and its files are read-only', async () => {
    const releases = join(`${dir}-state`, 'releases');
    const once = await prepareReleases(await load(), { dir: releases, exec: noExec });
    const web = once.services.find((s) => s.name === 'web')!;
    assert.ok(web.workdir.startsWith(join(releases, 'web', web.release!.id)));
    assert.equal((await stat(join(web.workdir, 'server.js'))).mode & 0o777, 0o444);
    const marker = await stat(join(web.release!.dir, '.rampart-release.json'));
    const twice = await prepareReleases(await load(), { dir: releases, exec: noExec });
    assert.equal(twice.services.find((s) => s.name === 'web')!.workdir, web.workdir);
    assert.equal((await stat(join(web.release!.dir, '.rampart-release.json'))).mtimeMs, marker.mtimeMs);
  });
});
