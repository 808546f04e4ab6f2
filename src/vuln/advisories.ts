import { createHash } from 'node:crypto';
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RampartError } from '../platform/errors.ts';
import { isObject } from './lockfile-errors.ts';
import type { AdvisoryInput, OsvRecord } from './osv.ts';
import { inflateEntry, readZipIndex, type ZipEntry } from './zip.ts';

/** A record Rampart skipped, and why; loading goes on without it. */
export interface AdvisoryProblem {
  file: string;
  message: string;
}

export interface LoadedAdvisories {
  records: AdvisoryInput[];
  problems: AdvisoryProblem[];
  /** Changes when any file of the source changes (name, size, mtime). */
  fingerprint: string;
}

/** Pure: the OSV records in one JSON text (a record, or an array of records as some mirrors serve). */
export function parseOsvJson(text: string, file: string, problems: AdvisoryProblem[]): OsvRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    problems.push({ file, message: `not valid JSON (${(error as Error).message})` });
    return [];
  }
  const list = Array.isArray(doc) ? doc : [doc];
  const out: OsvRecord[] = [];
  list.forEach((r, i) => {
    const where = Array.isArray(doc) ? `${file}[${i}]` : file;
    if (!isObject(r) || typeof r.id !== 'string') {
      problems.push({ file: where, message: 'not an OSV record (no string `id`)' });
      return;
    }
    if (r.affected !== undefined && !Array.isArray(r.affected)) {
      problems.push({ file: where, message: `${r.id}: affected must be an array` });
      return;
    }
    out.push(r as unknown as OsvRecord);
  });
  return out;
}

/**
 * Pure: the OSV records of a zip archive (the OSV export's `all.zip`). Each entry is inflated once to
 * read its id and npm package names; the record is parsed only when a lockfile names one of them.
 * Entries that are arrays, withdrawn, or whose `package` objects cannot be read quickly are parsed now.
 */
export function parseOsvZip(data: Uint8Array, file: string, problems: AdvisoryProblem[]): AdvisoryInput[] {
  let entries: ZipEntry[];
  try {
    entries = readZipIndex(data, (name) => name.endsWith('.json'));
  } catch (error) {
    throw new RampartError(
      'RAMPART_E_ADVISORY',
      `${file}: not a readable zip archive (${(error as Error).message})`,
      {
        file,
        fix: 'download the OSV export again (e.g. https://osv-vulnerabilities.storage.googleapis.com/npm/all.zip)',
      },
    );
  }
  const out: AdvisoryInput[] = [];
  for (const e of entries) {
    const where = `${file}!${e.name}`;
    let bytes: Buffer;
    try {
      bytes = inflateEntry(e);
    } catch (error) {
      problems.push({ file: where, message: (error as Error).message });
      continue;
    }
    const quick = bytes[0] === 0x7b && !bytes.includes(WITHDRAWN) ? scanRecord(bytes) : undefined;
    // Records the quick scan cannot place (no npm package seen) are parsed, so errors are reported.
    if (!quick || quick.names.length === 0) {
      for (const r of parseOsvJson(bytes.toString('utf8'), where, problems)) out.push(r);
      continue;
    }
    out.push({
      lazy: true,
      id: quick.id ?? e.name.replace(/^.*\//, '').replace(/\.json$/, ''),
      names: quick.names,
      load: () => parseOsvJson(inflateEntry(e).toString('utf8'), where, problems)[0],
    });
  }
  return out;
}

const WITHDRAWN = Buffer.from('"withdrawn"');
const PACKAGE = Buffer.from('"package"');
const ID = /"id"\s*:\s*"([^"\\]+)"/;

/**
 * The id and npm package names of one record without parsing it: each `"package": { ... }` object
 * (strings only in OSV) is cut out and parsed alone. Undefined when that does not work out.
 */
function scanRecord(bytes: Buffer): { id?: string; names: string[] } | undefined {
  const names = new Set<string>();
  for (let i = bytes.indexOf(PACKAGE); i >= 0; i = bytes.indexOf(PACKAGE, i + PACKAGE.length)) {
    if (bytes[i - 1] === 0x5c) continue; // `\"package\"` inside a string
    const open = bytes.indexOf(0x7b, i + PACKAGE.length);
    const close = bytes.indexOf(0x7d, open);
    if (open < 0 || close < 0) return undefined;
    try {
      const pkg = JSON.parse(bytes.toString('utf8', open, close + 1)) as {
        ecosystem?: unknown;
        name?: unknown;
      };
      if (pkg.ecosystem === 'npm' && typeof pkg.name === 'string') names.add(pkg.name);
    } catch {
      return undefined;
    }
  }
  const id = ID.exec(bytes.toString('utf8', 0, Math.min(bytes.length, 1024)))?.[1];
  return { ...(id !== undefined && { id }), names: [...names] };
}

/**
 * Reads OSV records from a directory (its `*.json` files and `*.zip` archives, one level of
 * sub-folders) or from one `.zip` / `.json` file.
 */
export async function loadAdvisories(path: string): Promise<LoadedAdvisories> {
  const problems: AdvisoryProblem[] = [];
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new RampartError('RAMPART_E_ADVISORY', `advisory source ${path} does not exist`, {
      file: path,
      fix: 'give a folder of OSV .json files or the OSV npm export all.zip',
    });
  }
  if (!info.isDirectory()) {
    const records = await loadFile(path, problems);
    return { records, problems, fingerprint: `${path}:${info.size}:${info.mtimeMs}` };
  }
  const files = await listSource(path);
  const records: AdvisoryInput[] = [];
  for (const f of files) for (const r of await loadFile(f.path, problems)) records.push(r);
  return { records, problems, fingerprint: fingerprintOf(files) };
}

interface SourceFile {
  path: string;
  size: number;
  mtimeMs: number;
}

async function listSource(dir: string, depth = 0): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.isDirectory() && depth === 0) for (const f of await listSource(path, 1)) out.push(f);
    else if (e.isFile() && (e.name.endsWith('.json') || e.name.endsWith('.zip'))) {
      const s = await stat(path).catch(() => undefined);
      if (s) out.push({ path, size: s.size, mtimeMs: s.mtimeMs });
    }
  }
  return out;
}

function fingerprintOf(files: SourceFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.path}\0${f.size}\0${f.mtimeMs}\n`);
  return h.digest('hex');
}

/** A cheap check for change: names, sizes and mtimes only. */
export async function advisoryFingerprint(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return 'missing';
  if (!info.isDirectory()) return `${path}:${info.size}:${info.mtimeMs}`;
  return fingerprintOf(await listSource(path));
}

async function loadFile(file: string, problems: AdvisoryProblem[]): Promise<AdvisoryInput[]> {
  const data = await readFile(file);
  if (file.endsWith('.zip')) return parseOsvZip(data, file, problems);
  return parseOsvJson(data.toString('utf8'), file, problems);
}

export interface RefreshResult {
  changed: boolean;
  file: string;
  etag?: string;
}

/**
 * Downloads the advisory export from `url` into `<dir>/<name>` (atomically), sending the last ETag so an
 * unchanged export costs one 304. A site that allows no outside traffic simply configures no URL.
 */
export async function refreshAdvisories(opts: {
  url: string;
  dir: string;
  etag?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}): Promise<RefreshResult> {
  const doFetch = opts.fetch ?? fetch;
  const headers: Record<string, string> = {};
  if (opts.etag) headers['if-none-match'] = opts.etag;
  let res: Response;
  try {
    res = await doFetch(opts.url, { headers, signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000) });
  } catch (error) {
    throw new RampartError(
      'RAMPART_E_ADVISORY',
      `cannot fetch advisories from ${opts.url}: ${(error as Error).message}`,
      {
        fix: 'check the advisory URL, or mirror the export into the advisory folder by hand',
      },
    );
  }
  const isZip = opts.url.endsWith('.zip') || (res.headers.get('content-type') ?? '').includes('zip');
  const file = join(opts.dir, isZip ? 'refreshed-all.zip' : 'refreshed.json');
  if (res.status === 304) return { changed: false, file, ...(opts.etag && { etag: opts.etag }) };
  if (!res.ok) {
    throw new RampartError('RAMPART_E_ADVISORY', `advisory URL ${opts.url} answered ${res.status}`, {
      fix: 'check the advisory URL',
    });
  }
  const body = new Uint8Array(await res.arrayBuffer());
  const tmp = `${file}.tmp`;
  await writeFile(tmp, body);
  await rename(tmp, file);
  const etag = res.headers.get('etag') ?? undefined;
  return { changed: true, file, ...(etag && { etag }) };
}
