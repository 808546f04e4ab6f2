/**
 * Vulnerability matching at the size of the OSV npm export:
 *
 *   cold     load all.zip (200,000 generated OSV records, most of them MAL- malicious-package
 *            reports, like the real export), index it, read a 1,500-package lockfile, match: the
 *            time `rampart vuln scan` takes from nothing
 *   warm     read + match the lockfile against the index in memory (median of runs)
 *   rematch  a changed advisory set (a new file of 100 records in the advisory folder) re-matched
 *            against every running release by the VulnManager (20 releases of 1,500 packages)
 *
 *   node --import tsx bench/vuln.ts [--records 200000] [--packages 1500] [--releases 20]
 *
 * Goals (issue 7): warm <= 1 s, cold <= 10 s, rematch <= 1 s. The records are generated (the real
 * export cannot be fetched here) in the OSV format with realistic sizes: summary, details,
 * references, CVSS vectors, several ranges, versions lists, withdrawn records.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { zipSync } from 'fflate';
import type { Store } from '../src/store/index.ts';
import {
  AdvisoryIndex,
  VulnManager,
  loadAdvisories,
  matchInventory,
  readInventory,
  type OsvRecord,
  type RunningRelease,
} from '../src/vuln/index.ts';
import { cpuSince, cpuTimes, median, round, writeResult } from './lib.ts';

export interface VulnBenchOptions {
  /** @default 200,000 */
  records?: number;
  /** @default 1,500 */
  packages?: number;
  /** @default 20 */
  releases?: number;
  /** @default 7 */
  warmRuns?: number;
  log?: (line: string) => void;
}

export interface VulnBenchResult {
  config: { records: number; malicious: number; packages: number; releases: number; zipMiB: number };
  load: number[];
  cold: {
    totalMs: number;
    cpuMs: number;
    loadMs: number;
    indexMs: number;
    readMs: number;
    matchMs: number;
    findings: number;
  };
  warm: { medianMs: number; runsMs: number[]; cpuMedianMs: number; findings: number };
  rematch: { medianMs: number; runsMs: number[]; cpuMedianMs: number; findingsPerRelease: number };
  managerColdMs: number;
}

/** A deterministic pseudo-random sequence (the same data on every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const pkgName = (i: number) => (i % 7 === 0 ? `@scope${i % 97}/pkg-${i}` : `pkg-${i}`);

function advisory(i: number, name: string, r: () => number): OsvRecord {
  const major = 1 + Math.floor(r() * 5);
  const ranges = [];
  const nRanges = 1 + Math.floor(r() * 3);
  for (let k = 0; k < nRanges; k++) {
    const m = major + k;
    const events: Record<string, string>[] = [{ introduced: k === 0 && r() < 0.3 ? '0' : `${m}.0.0` }];
    if (r() < 0.85) events.push({ fixed: `${m}.${1 + Math.floor(r() * 9)}.${Math.floor(r() * 5)}` });
    else events.push({ last_affected: `${m}.${Math.floor(r() * 9)}.0` });
    if (r() < 0.2) events.reverse();
    ranges.push({ type: 'SEMVER', events });
  }
  const id = `GHSA-${i.toString(36).padStart(4, '0')}-bnch-${(i * 7).toString(36).padStart(4, '0')}`;
  return {
    id,
    modified: '2026-11-01T00:00:00Z',
    published: '2025-06-01T00:00:00Z',
    ...(r() < 0.01 && { withdrawn: '2026-10-01T00:00:00Z' }),
    aliases: [`CVE-2025-${10000 + i}`],
    summary: `Generated vulnerability ${i} in ${name}`,
    details: `A flaw in ${name} lets an attacker do something unwanted. `.repeat(6),
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:N' }],
    affected: [
      {
        package: { ecosystem: 'npm', name, purl: `pkg:npm/${name}` },
        ranges,
        ...(r() < 0.1 && { versions: [`${major}.0.0`, `${major}.0.1`] }),
        database_specific: { source: `https://github.com/github/advisory-database/${id}.json` },
      },
    ],
    references: [
      { type: 'ADVISORY', url: `https://nvd.nist.gov/vuln/detail/CVE-2025-${10000 + i}` },
      { type: 'PACKAGE', url: `https://github.com/example/${name}` },
    ],
    database_specific: { severity: 'HIGH', cwe_ids: ['CWE-79'], github_reviewed: true },
  } as OsvRecord;
}

function malicious(i: number): OsvRecord {
  const name = `mal-${i.toString(36)}-typo`;
  return {
    id: `MAL-2025-${i}`,
    modified: '2026-11-01T00:00:00Z',
    published: '2025-06-01T00:00:00Z',
    summary: `Malicious code in ${name} (npm)`,
    details:
      '\n---\n_-= Per source details. Do not edit below this line.=-_\n\n## Source: ossf-package-analysis\nThe package exfiltrates environment variables on install.\n',
    affected: [
      {
        package: { ecosystem: 'npm', name },
        ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }] }],
        database_specific: {
          'malicious-packages-origins': [{ source: 'ossf-package-analysis', sha256: 'ab'.repeat(32) }],
        },
      },
    ],
    database_specific: { 'malicious-packages-origins': [{ source: 'ossf-package-analysis' }] },
  } as OsvRecord;
}

/** The export: `malicious` MAL- records and the rest GHSA-like ones over a pool of package names. */
function generateRecords(total: number, r: () => number): { records: OsvRecord[]; malicious: number } {
  const malCount = Math.round(total * 0.85);
  const records: OsvRecord[] = [];
  for (let i = 0; i < total - malCount; i++) records.push(advisory(i, pkgName(Math.floor(r() * 40_000)), r));
  for (let i = 0; i < malCount; i++) records.push(malicious(i));
  return { records, malicious: malCount };
}

/** A v3 lockfile of `count` packages, about a tenth nested duplicates, about a fifth with advisories. */
function generateLockfile(count: number, r: () => number, variant: number): string {
  const packages: Record<string, unknown> = {
    '': { name: `app-${variant}`, version: '1.0.0', dependencies: {} },
  };
  let i = 0;
  while (Object.keys(packages).length - 1 < count) {
    const name = pkgName(r() < 0.2 ? Math.floor(r() * 40_000) : 40_000 + i * 13 + variant);
    const version = `${1 + Math.floor(r() * 6)}.${Math.floor(r() * 10)}.${Math.floor(r() * 5)}`;
    const path =
      r() < 0.1 && i > 10
        ? `node_modules/${pkgName(40_000 + (i - 5) * 13 + variant)}/node_modules/${name}`
        : `node_modules/${name}`;
    packages[path] = {
      version,
      resolved: `https://registry.npmjs.org/${name}/-/x-${version}.tgz`,
      integrity: 'sha512-AAAA',
      ...(r() < 0.3 && { dev: true }),
    };
    i++;
  }
  return JSON.stringify(
    { name: `app-${variant}`, version: '1.0.0', lockfileVersion: 3, requires: true, packages },
    null,
    2,
  );
}

type DocumentRecord = NonNullable<Awaited<ReturnType<Store['getDocument']>>>;

function memoryStore() {
  const docs = new Map<string, DocumentRecord>();
  return {
    async putDocument(d: Omit<DocumentRecord, 'updatedAt'>, now: number) {
      docs.set(`${d.kind}\0${d.environment}\0${d.key}`, { ...d, updatedAt: now });
    },
    async getDocument(kind: string, environment: string, key: string) {
      return docs.get(`${kind}\0${environment}\0${key}`);
    },
    async listDocuments(kind: string, environment: string) {
      return [...docs.values()].filter((d) => d.kind === kind && d.environment === environment);
    },
  };
}

export async function runVulnBench(opts: VulnBenchOptions = {}): Promise<VulnBenchResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const total = opts.records ?? 200_000;
  const count = opts.packages ?? 1_500;
  const releaseCount = opts.releases ?? 20;
  const r = rng(7);
  const dir = await mkdtemp(join(tmpdir(), 'rampart-bench-vuln-'));
  try {
    log(`vuln: generating ${total} OSV records and ${releaseCount} lockfiles of ${count} packages`);
    const { records, malicious: malCount } = generateRecords(total, r);
    const encoder = new TextEncoder();
    const files: Record<string, Uint8Array> = {};
    for (const rec of records) files[`${rec.id}.json`] = encoder.encode(JSON.stringify(rec, null, 2));
    const zip = zipSync(files, { level: 6 });
    await mkdir(join(dir, 'advisories'));
    const zipFile = join(dir, 'advisories', 'all.zip');
    await writeFile(zipFile, zip);
    const releases: RunningRelease[] = [];
    for (let v = 0; v < releaseCount; v++) {
      const d = join(dir, `svc-${v}`);
      await mkdir(d);
      await writeFile(join(d, 'package-lock.json'), generateLockfile(count, rng(100 + v), v));
      releases.push({ environment: 'bench', service: `svc-${v}`, dir: d });
    }
    const load: number[] = [];

    // Cold: what `rampart vuln scan <dir> --advisories all.zip` does, from nothing.
    log('vuln: cold scan');
    const coldCpu = cpuTimes();
    let t = performance.now();
    const loaded = await loadAdvisories(zipFile);
    const loadMs = performance.now() - t;
    t = performance.now();
    const index = new AdvisoryIndex(loaded.records);
    const indexMs = performance.now() - t;
    t = performance.now();
    const inv = await readInventory(releases[0]!.dir);
    const readMs = performance.now() - t;
    t = performance.now();
    const coldFindings = matchInventory(inv, index);
    const matchMs = performance.now() - t;
    const coldCpuMs = cpuSince(coldCpu).selfMs;
    load.push(loadavg()[0]!);

    // Warm: the index is in memory (the daemon's case); read and match the lockfile again.
    log('vuln: warm scans');
    const warmRuns: number[] = [];
    const warmCpu: number[] = [];
    let warmFindings = 0;
    for (let k = 0; k < (opts.warmRuns ?? 7); k++) {
      const c = cpuTimes();
      t = performance.now();
      const i2 = await readInventory(releases[k % releases.length]!.dir);
      warmFindings = matchInventory(i2, index).length;
      warmRuns.push(performance.now() - t);
      warmCpu.push(cpuSince(c).selfMs);
    }
    load.push(loadavg()[0]!);

    // Re-match: the manager holds every release; a new advisory file lands in the folder.
    log('vuln: manager cold start and re-match after changed advisory sets');
    const manager = new VulnManager({
      store: memoryStore(),
      clock: { now: () => Date.now(), sleep: async () => undefined },
      releases: async () => releases,
      advisoryPath: join(dir, 'advisories'),
    });
    t = performance.now();
    await manager.tick();
    const managerColdMs = performance.now() - t;
    log(`vuln: manager cold ${round(managerColdMs)} ms, ${manager.advisoryCount} advisories`);
    if (manager.lastError) log(`vuln: manager error: ${manager.lastError}`);
    const rematchRuns: number[] = [];
    const rematchCpu: number[] = [];
    const findingsBefore = (await manager.findings()).length;
    for (let k = 0; k < 5; k++) {
      const changed = Array.from({ length: 100 }, (_, j) =>
        advisory(1_000_000 + k * 100 + j, pkgName(Math.floor(r() * 40_000)), r),
      );
      await writeFile(join(dir, 'advisories', `delta-${k}.json`), JSON.stringify(changed));
      const c = cpuTimes();
      t = performance.now();
      await manager.tick();
      rematchRuns.push(performance.now() - t);
      rematchCpu.push(cpuSince(c).selfMs);
      if (manager.lastError) log(`vuln: manager error: ${manager.lastError}`);
    }
    load.push(loadavg()[0]!);
    const result: VulnBenchResult = {
      config: {
        records: total,
        malicious: malCount,
        packages: inv.packages.length,
        releases: releaseCount,
        zipMiB: round(zip.length / 2 ** 20),
      },
      load: load.map((l) => round(l, 2)),
      cold: {
        totalMs: round(loadMs + indexMs + readMs + matchMs),
        cpuMs: round(coldCpuMs),
        loadMs: round(loadMs),
        indexMs: round(indexMs),
        readMs: round(readMs),
        matchMs: round(matchMs),
        findings: coldFindings.length,
      },
      warm: {
        medianMs: round(median(warmRuns)),
        runsMs: warmRuns.map((x) => round(x)),
        cpuMedianMs: round(median(warmCpu)),
        findings: warmFindings,
      },
      rematch: {
        medianMs: round(median(rematchRuns)),
        runsMs: rematchRuns.map((x) => round(x)),
        cpuMedianMs: round(median(rematchCpu)),
        findingsPerRelease: round(findingsBefore / releaseCount),
      },
      managerColdMs: round(managerColdMs),
    };
    await writeResult('vuln', result);
    log(
      `vuln: cold ${result.cold.totalMs} ms, cpu ${result.cold.cpuMs} ms (load ${result.cold.loadMs}, index ${result.cold.indexMs}, read ${result.cold.readMs}, match ${result.cold.matchMs}); ` +
        `warm ${result.warm.medianMs} ms (cpu ${result.warm.cpuMedianMs}); re-match ${releaseCount} releases ${result.rematch.medianMs} ms (cpu ${result.rematch.cpuMedianMs}); load avg ${result.load.join('/')}`,
    );
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  await runVulnBench({ records: arg('records'), packages: arg('packages'), releases: arg('releases') });
}

/** Rows for `npm run bench`'s summary: each figure against its goal from the issue. */
export function vulnSummaryRows(r: VulnBenchResult): {
  measure: string;
  rampart: number;
  baseline: number;
  ratio: number;
  goal: { op: '<='; value: number };
}[] {
  const row = (measure: string, ms: number, goalMs: number) => ({
    measure,
    rampart: ms,
    baseline: goalMs,
    ratio: round(ms / goalMs, 3),
    goal: { op: '<=' as const, value: 1 },
  });
  return [
    row(`vuln scan warm ms, ${r.config.packages} pkgs (vs 1000)`, r.warm.medianMs, 1000),
    row(`vuln scan cold ms, ${r.config.records} OSV records (vs 10000)`, r.cold.totalMs, 10_000),
    row(`vuln re-match ${r.config.releases} releases ms (vs 1000)`, r.rematch.medianMs, 1000),
  ];
}
