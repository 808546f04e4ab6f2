import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { npmPurl, readInventory, renderCycloneDx, scanPath } from './index.ts';

const require = createRequire(import.meta.url);
const schemaDir = `${require.resolve('@cyclonedx/cyclonedx-library/package.json').replace(/package\.json$/, '')}res/schema`;
const lockDir = (p: string) => fileURLToPath(new URL(`./fixtures/lockfiles/${p}`, import.meta.url));
const osvDir = fileURLToPath(new URL('./fixtures/osv', import.meta.url));

/** The official CycloneDX 1.6 JSON schema (shipped by @cyclonedx/cyclonedx-library), strict. */
async function cyclonedxValidator() {
  const read = async (f: string) =>
    JSON.parse(await readFile(`${schemaDir}/${f}`, 'utf8')) as Record<string, unknown>;
  const [bom, spdx, jsf] = await Promise.all([
    read('bom-1.6.SNAPSHOT.schema.json'),
    read('spdx.SNAPSHOT.schema.json'),
    read('jsf-0.82.SNAPSHOT.schema.json'),
  ]);
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  // bom-1.6 refers to its neighbours by their file names; register them under those names.
  ajv.addSchema({ ...spdx, $id: 'http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json' });
  ajv.addSchema({ ...jsf, $id: 'http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json' });
  return ajv.compile(bom);
}

describe('CycloneDX 1.6 SBOM', () => {
  for (const dir of ['npm-v3', 'npm-v1', 'pnpm-v9', 'yarn-v1', 'yarn-berry']) {
    it(`GIVEN the ${dir} inventory and its findings WHEN rendered THEN it validates against the official 1.6 schema`, async () => {
      const validate = await cyclonedxValidator();
      const scan = await scanPath(lockDir(dir), osvDir);
      const bom = renderCycloneDx(scan.inventory, {
        findings: scan.findings,
        timestamp: '2026-11-26T00:00:00Z',
      });
      const ok = validate(bom);
      assert.ok(ok, JSON.stringify(validate.errors?.slice(0, 5), null, 2));
    });
  }

  it("GIVEN this repository's real lockfile WHEN rendered THEN it validates and every dependency ref is a component", async () => {
    const validate = await cyclonedxValidator();
    const inv = await readInventory(fileURLToPath(new URL('../../package-lock.json', import.meta.url)));
    const bom = renderCycloneDx(inv) as {
      components: { 'bom-ref': string }[];
      dependencies: { ref: string; dependsOn: string[] }[];
    };
    assert.ok(validate(bom), JSON.stringify(validate.errors?.slice(0, 5)));
    const refs = new Set(['root', ...bom.components.map((c) => c['bom-ref'])]);
    for (const d of bom.dependencies) for (const r of [d.ref, ...d.dependsOn]) assert.ok(refs.has(r), r);
  });

  it('GIVEN a component with a scope the schema does not know WHEN validated THEN the validator rejects it', async () => {
    const validate = await cyclonedxValidator();
    const bom = renderCycloneDx(await readInventory(lockDir('npm-v2'))) as {
      components: Record<string, unknown>[];
    };
    bom.components[0]!.scope = 'dev';
    assert.equal(validate(bom), false);
  });

  it('GIVEN a scoped package, a dev dependency and an alias WHEN rendered THEN purl, scope and properties say so', async () => {
    const inv = await readInventory(lockDir('npm-v3'));
    const bom = renderCycloneDx(inv) as { components: Record<string, unknown>[] };
    const minimist = bom.components.find((c) => c['bom-ref'] === 'minimist@1.2.5')!;
    assert.equal(minimist.scope, 'excluded');
    assert.deepEqual(minimist.properties, [
      { name: 'cdx:npm:package:path', value: 'node_modules/minimist' },
      { name: 'cdx:npm:package:development', value: 'true' },
    ]);
    const alias = bom.components.find((c) => c['bom-ref'] === 'lodash@4.17.15')!;
    assert.equal(alias.purl, 'pkg:npm/lodash@4.17.15');
    assert.equal(npmPurl('@types/node', '20.10.5'), 'pkg:npm/%40types/node@20.10.5');
  });

  it('GIVEN the same inventory twice WHEN rendered THEN the bytes are the same (serial number from content)', async () => {
    const inv = await readInventory(lockDir('npm-v3'));
    assert.equal(JSON.stringify(renderCycloneDx(inv)), JSON.stringify(renderCycloneDx(inv)));
  });
});
