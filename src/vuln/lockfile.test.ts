import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isRampartError } from '../platform/errors.ts';
import { parseLockfile, parsePackageLock, readInventory } from './index.ts';
import type { Inventory } from './index.ts';

const fixture = (p: string) => fileURLToPath(new URL(`./fixtures/lockfiles/${p}`, import.meta.url));
const pkg = (inv: Inventory, ref: string) => {
  const p = inv.packages.find((x) => x.ref === ref);
  assert.ok(p, `${ref} not in ${inv.packages.map((x) => x.ref).join(', ')}`);
  return p;
};

describe('package-lock.json v3', () => {
  it('GIVEN nested duplicates, an alias, a link, dev/optional/peer flags WHEN read THEN each name@version is one package with every install path', async () => {
    const inv = await readInventory(fixture('npm-v3'));
    assert.equal(inv.format, 'package-lock-v3');
    assert.deepEqual(inv.root, { name: 'shop-api', version: '1.4.0' });
    assert.deepEqual(pkg(inv, 'lodash@4.17.21').paths, ['node_modules/lodash']);
    assert.deepEqual(pkg(inv, 'lodash@4.17.20').paths, ['node_modules/legacy-lib/node_modules/lodash']);
    const alias = pkg(inv, 'lodash@4.17.15');
    assert.deepEqual(
      [alias.name, alias.aliases, alias.paths],
      ['lodash', ['lodash-old'], ['node_modules/lodash-old']],
    );
    assert.equal(pkg(inv, 'minimist@1.2.5').dev, true);
    assert.equal(pkg(inv, 'semver@7.5.1').dev, false);
    assert.equal(pkg(inv, 'fsevents@2.3.3').optional, true);
    assert.equal(pkg(inv, 'react@18.2.0').peer, true);
    const ui = pkg(inv, 'ui@workspace:packages/ui');
    assert.deepEqual(
      [ui.workspace, ui.paths, ui.dependencies],
      [true, ['node_modules/ui', 'packages/ui'], ['lodash@4.17.21']],
    );
  });

  it('GIVEN a package with its own nested copy WHEN read THEN its dependency edge points at the nested copy (Node resolution)', async () => {
    const inv = await readInventory(fixture('npm-v3'));
    assert.deepEqual(pkg(inv, 'legacy-lib@2.1.0').dependencies, [
      'lodash@4.17.20',
      'react@18.2.0',
      'semver@6.3.1',
    ]);
    assert.deepEqual(pkg(inv, 'mocha-lite@1.0.2').dependencies, ['minimist@1.2.5']);
    assert.ok(inv.rootDependencies.includes('lodash@4.17.15'));
  });

  it("GIVEN this repository's own package-lock.json (a real v3 lockfile) WHEN read THEN every location is accounted for", async () => {
    const file = fileURLToPath(new URL('../../package-lock.json', import.meta.url));
    const text = await readFile(file, 'utf8');
    const inv = parsePackageLock(text, file);
    const locations = Object.keys((JSON.parse(text) as { packages: object }).packages).filter(
      (k) => k !== '',
    );
    const paths = inv.packages.flatMap((p) => p.paths);
    assert.equal(paths.length, locations.length);
    assert.deepEqual(pkg(inv, inv.packages.find((p) => p.name === 'semver' && !p.dev)!.ref).dev, false);
    assert.ok(inv.packages.some((p) => p.name === 'typescript' && p.dev));
  });
});

describe('package-lock.json v2 and v1', () => {
  it('GIVEN a v2 lockfile WHEN read THEN `packages` is used and nested copies keep their own path', async () => {
    const inv = await readInventory(fixture('npm-v2'));
    assert.equal(inv.format, 'package-lock-v2');
    assert.deepEqual(pkg(inv, 'semver@5.7.1').paths, ['node_modules/cli-args/node_modules/semver']);
    assert.deepEqual(pkg(inv, 'cli-args@3.1.0').dependencies, ['minimist@0.2.4', 'semver@5.7.1']);
  });

  it('GIVEN a v1 lockfile with nested dependencies, an npm: alias and a file: link WHEN read THEN they come out as in v3', async () => {
    const inv = await readInventory(fixture('npm-v1'));
    assert.equal(inv.format, 'package-lock-v1');
    assert.deepEqual(pkg(inv, 'minimist@0.0.8').paths, ['node_modules/async-helper/node_modules/minimist']);
    assert.deepEqual(pkg(inv, 'async-helper@1.2.0').dependencies, ['minimist@0.0.8']);
    assert.deepEqual(pkg(inv, 'lodash@4.17.4').aliases, ['old-lodash']);
    assert.equal(pkg(inv, 'minimist@1.2.6').dev, true);
    assert.equal(pkg(inv, 'semver@5.7.1').optional, true);
    assert.equal(pkg(inv, 'local-utils@workspace:node_modules/local-utils').workspace, true);
  });
});

describe('pnpm-lock.yaml and yarn.lock', () => {
  for (const dir of ['pnpm-v6', 'pnpm-v9']) {
    it(`GIVEN a ${dir} lockfile WHEN read THEN aliases resolve, devDependencies are dev and peer variants are one package`, async () => {
      const inv = await readInventory(fixture(dir));
      assert.equal(inv.format, dir === 'pnpm-v6' ? 'pnpm-lock-v6' : 'pnpm-lock-v9');
      assert.deepEqual(pkg(inv, 'lodash@4.17.21').aliases, ['old-lodash']);
      assert.equal(pkg(inv, 'minimist@1.2.5').dev, true);
      assert.equal(pkg(inv, 'semver@7.5.1').dev, false);
      assert.ok(pkg(inv, 'express-lite@1.0.3').dependencies.includes('semver@7.5.1'));
      assert.deepEqual(pkg(inv, 'lodash@4.17.20').paths, [
        'node_modules/.pnpm/lodash@4.17.20/node_modules/lodash',
      ]);
    });
  }

  it('GIVEN a classic yarn.lock and its package.json WHEN read THEN descriptors are the paths and devDependencies are dev', async () => {
    const inv = await readInventory(fixture('yarn-v1'));
    assert.equal(inv.format, 'yarn-v1');
    assert.deepEqual(pkg(inv, 'lodash@4.17.20').paths, ['lodash@^4.17.20', 'lodash@~4.17.0']);
    assert.deepEqual(pkg(inv, 'lodash@4.17.11').aliases, ['old-lodash']);
    assert.equal(pkg(inv, 'undici-types@5.26.5').dev, true);
    assert.equal(pkg(inv, 'semver@6.3.0').dev, false);
  });

  it('GIVEN a berry yarn.lock WHEN read THEN the workspace root is the root and its aliases resolve', async () => {
    const inv = await readInventory(fixture('yarn-berry'));
    assert.equal(inv.format, 'yarn-berry');
    assert.deepEqual(pkg(inv, 'semver@5.7.1').aliases, ['semver-old']);
    assert.equal(pkg(inv, 'minimist@1.2.5').dev, true);
    assert.equal(pkg(inv, 'lodash@4.17.20').dev, false);
  });
});

describe('bad lockfiles', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      assert.ok(isRampartError(error));
      return { code: error.code, message: error.message, field: error.details.field, fix: error.hint };
    }
    assert.fail('expected an error');
  };

  it('GIVEN an entry without version WHEN read THEN RAMPART_E_LOCKFILE names the file, the field and the fix', async () => {
    await assert.rejects(readInventory(fixture('bad')), (error: unknown) => {
      assert.ok(isRampartError(error));
      assert.equal(error.code, 'RAMPART_E_LOCKFILE');
      assert.equal(
        error.message,
        `${fixture('bad/package-lock.json')}: packages["node_modules/lodash"].version: has no version`,
      );
      assert.match(error.hint, /npm install --package-lock-only/);
      return true;
    });
  });

  it('GIVEN truncated JSON, an unknown lockfileVersion or a broken yarn.lock line WHEN parsed THEN each says where', () => {
    assert.deepEqual(
      code(() => parseLockfile('{"lockfileVersion": 3,', '/x/package-lock.json')).code,
      'RAMPART_E_LOCKFILE',
    );
    const v = code(() => parseLockfile('{"lockfileVersion": 7, "packages": {}}', '/x/package-lock.json'));
    assert.equal(
      v.message,
      '/x/package-lock.json: lockfileVersion: unsupported lockfileVersion 7 (Rampart reads 1, 2 and 3)',
    );
    const y = code(() =>
      parseLockfile('lodash@^4.0.0:\n  version "4.17.21"\ngarbage here\n', '/x/yarn.lock'),
    );
    assert.match(y.message, /^\/x\/yarn\.lock:3: expected 'descriptor/);
    const p = code(() => parseLockfile("lockfileVersion: '5.4'\n", '/x/pnpm-lock.yaml'));
    assert.match(p.message, /unsupported lockfileVersion '5.4'/);
  });

  it('GIVEN a folder without lockfile WHEN read THEN the error says to run npm install', async () => {
    const dir = fixture('../osv');
    await assert.rejects(
      readInventory(dir, { stopAt: dir }),
      /no lockfile in .*run `npm install`|no lockfile in/,
    );
  });
});
