import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseModulesRecord, modulesFilesOf } from './index.ts';

const run = promisify(execFile);
const cjs = fileURLToPath(new URL('./preload/modules.cjs', import.meta.url));
const esm = fileURLToPath(new URL('./preload/modules-esm.mjs', import.meta.url));

describe('modules preload', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rampart-modules-'));
    const pkg = async (folder: string, manifest: object, main: string) => {
      await mkdir(join(dir, folder), { recursive: true });
      await writeFile(join(dir, folder, 'package.json'), JSON.stringify(manifest));
      await writeFile(join(dir, folder, 'index.js'), main);
    };
    await pkg('node_modules/lodash-old', { name: 'lodash', version: '4.17.15' }, 'module.exports = 1;');
    await pkg(
      'node_modules/@scope/esm',
      { name: '@scope/esm', version: '2.0.0', type: 'module', exports: './index.js' },
      'export default 2;',
    );
    await pkg('node_modules/never-loaded', { name: 'never-loaded', version: '3.0.0' }, 'module.exports = 3;');
    await writeFile(
      join(dir, 'main.mjs'),
      "import '@scope/esm'; import { createRequire } from 'node:module'; createRequire(import.meta.url)('lodash-old');\n",
    );
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('GIVEN a process with CommonJS and ESM dependencies WHEN it runs with the preload THEN the record lists exactly what it loaded, under real names', async () => {
    const file = join(dir, 'modules-{pid}.json');
    await run(process.execPath, ['main.mjs'], {
      cwd: dir,
      env: { ...process.env, NODE_OPTIONS: `--require ${cjs} --import ${esm}`, RAMPART_MODULES_FILE: file },
    });
    const [written] = await modulesFilesOf(file);
    assert.ok(written, `no record in ${(await readdir(dir)).join(', ')}`);
    const record = parseModulesRecord(await readFile(written, 'utf8'))!;
    assert.equal(record.final, true);
    assert.deepEqual(
      record.packages.map((p) => [p.name, p.version, p.dir.slice(dir.length + 1)]),
      [
        ['@scope/esm', '2.0.0', 'node_modules/@scope/esm'],
        ['lodash', '4.17.15', 'node_modules/lodash-old'],
      ],
    );
  });

  it('GIVEN no RAMPART_MODULES_FILE WHEN a process runs with the preload THEN it writes nothing and runs normally', async () => {
    const before = (await readdir(dir)).length;
    const { stdout } = await run(process.execPath, ['-e', 'console.log(require("lodash-old"))'], {
      cwd: dir,
      env: { ...process.env, NODE_OPTIONS: `--require ${cjs}`, RAMPART_MODULES_FILE: '' },
    });
    assert.equal(stdout.trim(), '1');
    assert.equal((await readdir(dir)).length, before);
  });
});
