import semver, { type SemVer } from 'semver';
import { cvss3BaseScore, severityOfScore, severityOfWord } from './cvss.ts';
import { isObject } from './lockfile-errors.ts';
import type { Severity } from './types.ts';

/** The fields of an OSV record (https://ossf.github.io/osv-schema/) that matching reads. */
export interface OsvRecord {
  id: string;
  modified?: string;
  published?: string;
  withdrawn?: string;
  aliases?: string[];
  summary?: string;
  details?: string;
  severity?: { type: string; score: string }[];
  affected?: OsvAffected[];
  database_specific?: Record<string, unknown>;
}

export interface OsvAffected {
  package?: { ecosystem?: string; name?: string; purl?: string };
  ranges?: { type: string; events: Record<string, string>[] }[];
  versions?: string[];
  database_specific?: Record<string, unknown>;
  ecosystem_specific?: Record<string, unknown>;
}

/**
 * A record known by id and npm package names only, parsed the first time a lockfile asks for one of
 * its packages (the OSV export is mostly records no lockfile names: parsing them all is the cost).
 */
export interface LazyOsvRecord {
  lazy: true;
  id: string;
  names: string[];
  load(): OsvRecord | undefined;
}

export type AdvisoryInput = OsvRecord | LazyOsvRecord;

const isLazy = (r: AdvisoryInput): r is LazyOsvRecord => (r as LazyOsvRecord).lazy === true;

/** What a finding says about its advisory. */
export interface AdvisoryInfo {
  id: string;
  aliases: string[];
  summary: string;
  severity: Severity;
  score?: number;
  malicious: boolean;
  modified: string;
}

type EventKind = 'introduced' | 'fixed' | 'last_affected';
interface CompiledEvent {
  kind: EventKind;
  /** `null` is `introduced: "0"`: below every version. */
  version: SemVer | null;
}

/** One `affected` entry of one advisory, for one npm package, compiled on first use. */
interface CompiledAffected {
  advisory: AdvisoryInfo;
  ranges: CompiledEvent[][];
  versions: Set<string>;
  /** Every `fixed` version, ascending. */
  fixes: SemVer[];
}

/**
 * Advisories by npm package name. Building it only groups records (cheap); the ranges of a package are
 * parsed the first time a lockfile asks for that package, so a 200,000-record export indexes quickly
 * and a scan pays only for the packages it has.
 */
export class AdvisoryIndex {
  /** Package name -> ids of the advisories that name it. */
  private readonly pending = new Map<string, string[]>();
  private readonly compiled = new Map<string, CompiledAffected[]>();
  private readonly namesOf = new Map<string, string[]>();
  /** Records skipped because they are withdrawn. */
  private readonly withdrawnIds = new Set<string>();
  private readonly records = new Map<string, AdvisoryInput>();
  private readonly parsed = new Map<string, OsvRecord>();
  private readonly infos = new Map<string, AdvisoryInfo>();

  constructor(records: Iterable<AdvisoryInput>) {
    for (const r of records) this.add(r);
  }

  /** Advisories indexed (withdrawn ones and those naming no npm package are not). */
  get size(): number {
    return this.records.size;
  }

  has(id: string): boolean {
    return this.records.has(id);
  }

  /** What a finding says about an advisory; computed on first use (severity needs the CVSS vector). */
  info(id: string): AdvisoryInfo | undefined {
    let info = this.infos.get(id);
    if (!info) {
      const r = this.record(id);
      if (!r) return undefined;
      info = advisoryInfo(r);
      this.infos.set(id, info);
    }
    return info;
  }

  /** The full record (a lazy one is parsed once and kept). */
  record(id: string): OsvRecord | undefined {
    const r = this.records.get(id);
    if (!r || !isLazy(r)) return r;
    let full = this.parsed.get(id);
    if (!full) {
      full = r.load();
      if (!full) return undefined;
      this.parsed.set(id, full);
    }
    return full;
  }

  /**
   * Replaces the records with the given ids by `added` (a changed file of the advisory folder), so a
   * change re-indexes only what changed. Compiled ranges of the touched packages are dropped.
   */
  update(removedIds: Iterable<string>, added: Iterable<AdvisoryInput>): void {
    for (const id of removedIds) {
      this.withdrawnIds.delete(id);
      for (const name of this.namesOf.get(id) ?? []) {
        const list = (this.pending.get(name) ?? []).filter((p) => p !== id);
        if (list.length > 0) this.pending.set(name, list);
        else this.pending.delete(name);
        this.compiled.delete(name);
      }
      this.namesOf.delete(id);
      this.records.delete(id);
      this.parsed.delete(id);
      this.infos.delete(id);
    }
    for (const r of added) this.add(r);
  }

  get withdrawn(): number {
    return this.withdrawnIds.size;
  }

  private add(r: AdvisoryInput): void {
    if (typeof r.id !== 'string') return;
    if (this.records.has(r.id)) this.update([r.id], []);
    let names: string[];
    if (isLazy(r)) names = r.names;
    else {
      // OSV: a withdrawn record "should be ignored"; it no longer describes a vulnerability.
      if (r.withdrawn !== undefined && r.withdrawn !== null) {
        this.withdrawnIds.add(r.id);
        return;
      }
      names = [...new Set(npmEntries(r).map((a) => a.package!.name!))];
    }
    if (names.length === 0) return;
    this.records.set(r.id, r);
    this.namesOf.set(r.id, names);
    for (const name of names) {
      this.compiled.delete(name);
      const list = this.pending.get(name);
      if (list) list.push(r.id);
      else this.pending.set(name, [r.id]);
    }
  }

  /** The compiled `affected` entries of a package (empty for a package no advisory names). */
  forPackage(name: string): CompiledAffected[] {
    let c = this.compiled.get(name);
    if (c === undefined) {
      c = [];
      for (const id of this.pending.get(name) ?? []) {
        const r = this.record(id);
        if (!r || (r.withdrawn !== undefined && r.withdrawn !== null)) continue;
        for (const a of npmEntries(r))
          if (a.package!.name === name) c.push(compileAffected(this.info(id)!, a));
      }
      this.compiled.set(name, c);
    }
    return c;
  }

  /** Package names the index has advisories for. */
  packageNames(): IterableIterator<string> {
    return this.pending.keys();
  }
}

function npmEntries(r: OsvRecord): OsvAffected[] {
  return (r.affected ?? []).filter(
    (a) => a.package?.ecosystem === 'npm' && typeof a.package.name === 'string',
  );
}

export function advisoryInfo(r: OsvRecord): AdvisoryInfo {
  const { severity, score } = severityOf(r);
  return {
    id: r.id,
    aliases: [...(r.aliases ?? [])].sort(),
    summary: r.summary ?? (r.details ?? '').split('\n')[0]!.slice(0, 200),
    severity,
    ...(score !== undefined && { score }),
    malicious: r.id.startsWith('MAL-'),
    modified: r.modified ?? '',
  };
}

/** CVSS v3 vector first, then the database's own word (GHSA `database_specific.severity`). */
function severityOf(r: OsvRecord): { severity: Severity; score?: number } {
  for (const s of r.severity ?? []) {
    if (s.type !== 'CVSS_V3') continue;
    const score = cvss3BaseScore(s.score);
    if (score !== undefined) return { severity: severityOfScore(score), score };
  }
  const word =
    severityOfWord(r.database_specific?.severity) ??
    (r.affected ?? [])
      .map(
        (a) =>
          severityOfWord(a.database_specific?.severity) ?? severityOfWord(a.ecosystem_specific?.severity),
      )
      .find((s) => s !== undefined);
  if (word) return { severity: word };
  // A malicious package is compromised code, whatever its record says about scores.
  if (r.id.startsWith('MAL-')) return { severity: 'critical' };
  return { severity: 'unknown' };
}

function parseVersion(v: string): SemVer | null | undefined {
  if (v === '0') return null;
  return semver.parse(v) ?? semver.parse(v, { loose: true }) ?? undefined;
}

const KIND_ORDER: Record<EventKind, number> = { introduced: 0, last_affected: 1, fixed: 2 };

function compileAffected(advisory: AdvisoryInfo, a: OsvAffected): CompiledAffected {
  const ranges: CompiledEvent[][] = [];
  const fixes: SemVer[] = [];
  for (const range of a.ranges ?? []) {
    // npm versions are SemVer; OSV's ECOSYSTEM type for npm orders them the same way. GIT ranges
    // name commits, which a lockfile does not have.
    if (range.type !== 'SEMVER' && range.type !== 'ECOSYSTEM') continue;
    const events: CompiledEvent[] = [];
    for (const e of range.events ?? []) {
      if (!isObject(e)) continue;
      for (const kind of ['introduced', 'fixed', 'last_affected'] as const) {
        const raw = e[kind];
        if (typeof raw !== 'string') continue;
        const version = parseVersion(raw);
        if (version === undefined) continue;
        if (kind !== 'introduced' && version === null) continue;
        events.push({ kind, version });
        if (kind === 'fixed' && version) fixes.push(version);
      }
    }
    // OSV: events are unordered; evaluate them sorted by version.
    events.sort((x, y) => {
      if (x.version === null || y.version === null)
        return x.version === y.version ? 0 : x.version === null ? -1 : 1;
      return semver.compare(x.version, y.version) || KIND_ORDER[x.kind] - KIND_ORDER[y.kind];
    });
    if (events.length > 0) ranges.push(events);
  }
  fixes.sort(semver.compare);
  return { advisory, ranges, versions: new Set(a.versions ?? []), fixes };
}

/** OSV's evaluation: walk the sorted events; `introduced` opens, `fixed` and `last_affected` close. */
function inRange(v: SemVer, events: CompiledEvent[]): boolean {
  let affected = false;
  for (const e of events) {
    if (e.kind === 'introduced') {
      if (e.version === null || semver.gte(v, e.version)) affected = true;
    } else if (e.kind === 'fixed') {
      if (semver.gte(v, e.version!)) affected = false;
    } else if (semver.gt(v, e.version!)) affected = false;
  }
  return affected;
}

export function affects(entry: CompiledAffected, version: string, parsed: SemVer | null): boolean {
  if (entry.versions.has(version)) return true;
  if (parsed === null) return false;
  return entry.ranges.some((r) => inRange(parsed, r));
}

export interface VersionMatch {
  advisory: AdvisoryInfo;
  /** Lowest version above the installed one that no entry of the advisory affects. */
  fixedVersion?: string;
}

/** Every advisory that affects `name@version`, with the lowest version that fixes each. */
export function matchVersion(index: AdvisoryIndex, name: string, version: string): VersionMatch[] {
  const entries = index.forPackage(name);
  if (entries.length === 0) return [];
  const parsed = semver.parse(version);
  const byAdvisory = new Map<string, CompiledAffected[]>();
  for (const e of entries) {
    const list = byAdvisory.get(e.advisory.id);
    if (list) list.push(e);
    else byAdvisory.set(e.advisory.id, [e]);
  }
  const out: VersionMatch[] = [];
  for (const list of byAdvisory.values()) {
    if (!list.some((e) => affects(e, version, parsed))) continue;
    let fixedVersion: string | undefined;
    if (parsed) {
      const candidates = list.flatMap((e) => e.fixes).filter((f) => semver.gt(f, parsed));
      candidates.sort(semver.compare);
      const fix = candidates.find((f) => !list.some((e) => affects(e, f.version, f)));
      fixedVersion = fix?.version;
    }
    out.push({ advisory: list[0]!.advisory, ...(fixedVersion !== undefined && { fixedVersion }) });
  }
  return out.sort((a, b) => (a.advisory.id < b.advisory.id ? -1 : 1));
}
