import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { isRampartError } from '../platform/errors.ts';
import {
  AdvisoryIndex,
  loadAdvisories,
  matchInventory,
  parseOsvZip,
  readInventory,
  refreshAdvisories,
} from './index.ts';

const osvDir = fileURLToPath(new URL('./fixtures/osv', import.meta.url));

async function fixtureZip(): Promise<Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (const name of (await readdir(osvDir)).filter((n) => n.endsWith('.json')))
    files[name] = new Uint8Array(await readFile(join(osvDir, name)));
  return zipSync(files);
}

describe('advisory sources', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let zip: Uint8Array;
  const etags: (string | undefined)[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rampart-osv-'));
    zip = await fixtureZip();
    server = createServer((req, res) => {
      etags.push(req.headers['if-none-match']);
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304);
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'application/zip', etag: '"v1"' });
      res.end(Buffer.from(zip));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/npm/all.zip`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('GIVEN the OSV export as all.zip WHEN loaded THEN it holds the same records as the folder', async () => {
    await writeFile(join(dir, 'all.zip'), zip);
    const fromZip = await loadAdvisories(join(dir, 'all.zip'));
    const fromDir = await loadAdvisories(osvDir);
    const ids = (l: { records: { id: string }[] }) => l.records.map((r) => r.id).sort();
    assert.deepEqual(
      ids(fromZip),
      ids(fromDir).filter((id) => !id.startsWith('TEST-') && !id.startsWith('MAL-')),
    );
    assert.equal(fromZip.records.length, 4);
  });

  it('GIVEN all.zip WHEN its records are indexed lazily THEN a scan finds exactly what the parsed folder finds', async () => {
    await writeFile(join(dir, 'all.zip'), zip);
    const inv = await readInventory(fileURLToPath(new URL('./fixtures/lockfiles/npm-v3', import.meta.url)));
    const keys = async (path: string) =>
      matchInventory(inv, new AdvisoryIndex((await loadAdvisories(path)).records)).map(
        (f) => `${f.key} ${f.fixedVersion} ${f.severity}`,
      );
    const fromDir = (await keys(osvDir)).filter((k) => !k.startsWith('TEST-') && !k.startsWith('MAL-'));
    assert.deepEqual(await keys(join(dir, 'all.zip')), fromDir);
    assert.equal(fromDir.length, 5);
  });

  it('GIVEN an archive with more than 65,535 entries (like the OSV npm export) WHEN loaded THEN every entry is read', () => {
    const files: Record<string, Uint8Array> = {};
    const encoder = new TextEncoder();
    for (let i = 0; i < 70_000; i++)
      files[`MAL-${i}.json`] = encoder.encode(
        `{"id":"MAL-${i}","affected":[{"package":{"ecosystem":"npm","name":"m${i}"}}]}`,
      );
    const problems: { file: string; message: string }[] = [];
    const records = parseOsvZip(zipSync(files, { level: 1 }), '/osv/all.zip', problems);
    assert.deepEqual([records.length, problems.length], [70_000, 0]);
    assert.ok(new AdvisoryIndex(records).has('MAL-69999'));
  });

  it('GIVEN a broken record among good ones WHEN loaded THEN the good ones load and the problem names the file', async () => {
    const problems: { file: string; message: string }[] = [];
    const records = parseOsvZip(
      zipSync({
        'ok.json': new TextEncoder().encode(
          '{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"x"}}]}',
        ),
        'bad.json': new TextEncoder().encode('{'),
      }),
      '/a/all.zip',
      problems,
    );
    assert.deepEqual(
      records.map((r) => r.id),
      ['X-1'],
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.file, /^\/a\/all\.zip!bad\.json$/);
  });

  it('GIVEN a file that is not a zip WHEN loaded THEN RAMPART_E_ADVISORY names it', async () => {
    await writeFile(join(dir, 'broken.zip'), 'not a zip');
    await assert.rejects(
      loadAdvisories(join(dir, 'broken.zip')),
      (e: unknown) =>
        isRampartError(e) && e.code === 'RAMPART_E_ADVISORY' && e.message.includes('broken.zip'),
    );
  });

  it('GIVEN a configured URL WHEN refreshed twice THEN the export is saved once and the second request is a conditional 304', async () => {
    const target = await mkdtemp(join(tmpdir(), 'rampart-osv-refresh-'));
    try {
      const first = await refreshAdvisories({ url, dir: target });
      assert.deepEqual([first.changed, first.etag], [true, '"v1"']);
      const second = await refreshAdvisories({ url, dir: target, etag: first.etag });
      assert.equal(second.changed, false);
      assert.deepEqual(etags.slice(-2), [undefined, '"v1"']);
      assert.equal((await loadAdvisories(target)).records.length, 4);
    } finally {
      await rm(target, { recursive: true, force: true });
    }
  });
});
