import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Clock } from '../platform/clock.ts';
import { isRampartError } from '../platform/errors.ts';
import type { ResolvedCi, ResolvedStack } from '../stack/index.ts';
import type { Store } from '../store/index.ts';
import { parseOsvJson, parseOsvZip, refreshAdvisories, type AdvisoryProblem } from './advisories.ts';
import { decideResponse, planTrigger, readCredential, sendTrigger } from './ci.ts';
import { parseModulesRecord, type LoadedEvidence } from './loaded.ts';
import { LOCKFILE_NAMES, parseLockfile } from './lockfile.ts';
import { AdvisoryIndex, type OsvRecord } from './osv.ts';
import { matchInventory } from './scan.ts';
import type { Finding, Inventory, Severity } from './types.ts';

/** A release that runs: where its code (and lockfile) is, and how to reach its CI. */
export interface RunningRelease {
  environment: string;
  service: string;
  /** The service's code folder; the lockfile is there or in a parent up to `stopAt`. */
  dir: string;
  stopAt?: string;
  /** Identity of what runs (a delivery release id); absent: the lockfile's digest stands for it. */
  revision?: string;
  ci?: ResolvedCi;
  /** Module record files written by the replicas' modules preload. */
  modulesFiles?: () => Promise<string[]>;
}

export type FindingState = 'open' | 'triggered' | 'deployed' | 'resolved';
export type TimelineEvent =
  | 'found'
  | 'reopened'
  | 'alert'
  | 'no-fix'
  | 'triggered'
  | 'trigger-failed'
  | 'deployed'
  | 'verified'
  | 'resolved';

/** One advisory in one package of one service, across the releases that come and go. */
export interface FindingRecord {
  /** Short stable id for `rampart vuln show`. */
  id: string;
  environment: string;
  service: string;
  advisory: string;
  package: string;
  aliases: string[];
  summary: string;
  severity: Severity;
  state: FindingState;
  /** The affected installed versions in the release last scanned (empty once resolved). */
  current: Finding[];
  /** Highest of the fixed versions the affected copies need. */
  fixedVersion?: string;
  decision?: { action: string; reason: string };
  timeline: { at: number; event: TimelineEvent; detail: string }[];
  /** Revision (lockfile digest) of the release last scanned. */
  revision: string;
}

export interface VulnAlert {
  id: string;
  time: number;
  environment: string;
  service: string;
  finding: string;
  kind: 'new-finding' | 'no-fix' | 'trigger-failed' | 'reopened';
  severity: Severity;
  message: string;
}

export const FINDING_KIND = 'vuln.finding';
export const ALERT_KIND = 'vuln.alert';

export interface VulnManagerOptions {
  store: Pick<Store, 'putDocument' | 'listDocuments' | 'getDocument'>;
  clock: Clock;
  /** The running releases; the default reads the deployed stacks' service folders. */
  releases: () => Promise<RunningRelease[]>;
  /** OSV folder or all.zip. Absent: no advisories (nothing is found). */
  advisoryPath?: string;
  /** Where the advisory export is refreshed from (into the advisory folder). */
  advisoryUrl?: string;
  /** @default 6 hours */
  refreshMs?: number;
  /** How often releases and advisories are checked for change. @default 30000 */
  pollMs?: number;
  /** Environment the CI credentials (`fromEnv`) are read from. */
  env?: Readonly<Record<string, string | undefined>>;
  fetch?: typeof fetch;
  /** Events for the daemon's event log (alerts, triggers, resolutions). */
  emit?: (e: { environment: string; kind: string; subject: string; message: string; data: unknown }) => void;
}

interface ReleaseState {
  lockfile?: string;
  lockStamp?: string;
  revision: string;
  inventory?: Inventory;
  evidenceStamp: string;
  error?: string;
  deployNoted: boolean;
}

interface FileEntry {
  stamp: string;
  ids: string[];
}

export function findingId(environment: string, service: string, advisory: string, pkg: string): string {
  return createHash('sha256')
    .update(`${environment}\0${service}\0${advisory}\0${pkg}`)
    .digest('hex')
    .slice(0, 10);
}

/**
 * One per daemon. Holds the advisory index, re-matches every running release when advisories or a
 * release change, records findings (store documents, kind `vuln.finding`), raises alerts (`vuln.alert`)
 * and runs the response rule, which may trigger the service's CI. Each pass is `tick()`; `start()`
 * runs it every `pollMs` and when the advisory folder changes.
 */
export class VulnManager {
  private index = new AdvisoryIndex([]);
  private readonly files = new Map<string, FileEntry>();
  private readonly releases = new Map<string, ReleaseState>();
  private readonly records = new Map<string, FindingRecord>();
  private readonly loadedEnvironments = new Set<string>();
  private readonly triggerTimes = new Map<string, number[]>();
  private timer?: NodeJS.Timeout;
  private watcher?: FSWatcher;
  private running?: Promise<void>;
  private again = false;
  private lastRefresh = 0;
  private etag?: string;
  problems: AdvisoryProblem[] = [];
  lastError?: string;

  constructor(private readonly opts: VulnManagerOptions) {}

  start(): void {
    const poll = this.opts.pollMs ?? 30_000;
    this.timer = setInterval(() => void this.tick(), poll);
    this.timer.unref();
    if (this.opts.advisoryPath) {
      try {
        this.watcher = watch(this.opts.advisoryPath, () => void this.tick());
        this.watcher.unref();
        this.watcher.on('error', () => undefined);
      } catch {
        // Polling covers a folder that cannot be watched (or does not exist yet).
      }
    }
    void this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
    this.watcher?.close();
  }

  /** Waits for the running pass, if any. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** A deploy happened in this environment: the next pass treats its releases as new. */
  noteDeployed(environment: string): void {
    for (const [key, r] of this.releases) if (key.startsWith(`${environment}\0`)) r.deployNoted = true;
    void this.tick();
  }

  get advisoryCount(): number {
    return this.index.size;
  }

  /** One pass; concurrent calls coalesce into one more pass after the running one. */
  tick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again);
      } catch (error) {
        this.lastError = (error as Error).message;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  async findings(filter: { environment?: string; state?: FindingState } = {}): Promise<FindingRecord[]> {
    const all = [...(await this.loadRecords()).values()];
    return all
      .filter(
        (r) =>
          (!filter.environment || r.environment === filter.environment) &&
          (!filter.state || r.state === filter.state),
      )
      .sort((a, b) => (a.environment + a.service + a.id < b.environment + b.service + b.id ? -1 : 1));
  }

  async finding(id: string): Promise<FindingRecord | undefined> {
    return [...(await this.loadRecords()).values()].find((r) => r.id === id || r.id.startsWith(id));
  }

  async alerts(environment: string): Promise<VulnAlert[]> {
    return (await this.opts.store.listDocuments(ALERT_KIND, environment)).map((d) => d.value as VulnAlert);
  }

  /** The inventory of a release as last read (for its SBOM). */
  inventory(environment: string, service: string): Inventory | undefined {
    return this.releases.get(`${environment}\0${service}`)?.inventory;
  }

  /** Release states for `vuln ls` (which releases were scanned, which failed and why). */
  releaseStatus(): {
    environment: string;
    service: string;
    lockfile?: string;
    packages?: number;
    error?: string;
  }[] {
    return [...this.releases.entries()].map(([key, r]) => {
      const [environment, service] = key.split('\0') as [string, string];
      return {
        environment,
        service,
        ...(r.lockfile && { lockfile: r.lockfile }),
        ...(r.inventory && { packages: r.inventory.packages.length }),
        ...(r.error && { error: r.error }),
      };
    });
  }

  private async loadRecords(): Promise<Map<string, FindingRecord>> {
    if (this.loadedEnvironments.size === 0) {
      const releases = await this.opts.releases().catch(() => []);
      for (const env of new Set(releases.map((r) => r.environment))) await this.loadEnvironment(env);
    }
    return this.records;
  }

  /** Findings of earlier daemons (the store outlives the process) are read once per environment. */
  private async loadEnvironment(environment: string): Promise<void> {
    if (this.loadedEnvironments.has(environment)) return;
    this.loadedEnvironments.add(environment);
    for (const d of await this.opts.store.listDocuments(FINDING_KIND, environment)) {
      const k = `${environment}\0${d.key}`;
      if (!this.records.has(k)) this.records.set(k, d.value as FindingRecord);
    }
  }

  private async pass(): Promise<void> {
    const advisoriesChanged = await this.syncAdvisories();
    const releases = await this.opts.releases();
    for (const rel of releases) {
      const key = `${rel.environment}\0${rel.service}`;
      await this.loadEnvironment(rel.environment);
      const state = this.releases.get(key) ?? { revision: '', evidenceStamp: '', deployNoted: false };
      this.releases.set(key, state);
      const revisionChanged = await this.syncRelease(rel, state);
      if (!state.inventory) continue;
      const evidence = await this.readEvidence(rel);
      const evidenceStamp = JSON.stringify(evidence.records.map((r) => [r.file, r.record.updatedAt]));
      const evidenceChanged = evidenceStamp !== state.evidenceStamp;
      state.evidenceStamp = evidenceStamp;
      // A deploy event only forces a re-scan; "deployed" in a timeline needs a new release to run.
      if (!advisoriesChanged && !revisionChanged && !evidenceChanged && !state.deployNoted) continue;
      state.deployNoted = false;
      const findings = matchInventory(state.inventory, this.index, evidence);
      await this.reconcile(rel, state, findings, revisionChanged);
    }
  }

  /** Loads changed advisory files into the index; true when anything changed. */
  private async syncAdvisories(): Promise<boolean> {
    const path = this.opts.advisoryPath;
    if (!path) return false;
    const now = this.opts.clock.now();
    if (this.opts.advisoryUrl && now - this.lastRefresh >= (this.opts.refreshMs ?? 6 * 3_600_000)) {
      this.lastRefresh = now;
      try {
        const r = await refreshAdvisories({
          url: this.opts.advisoryUrl,
          dir: path,
          etag: this.etag,
          fetch: this.opts.fetch,
        });
        this.etag = r.etag;
      } catch (error) {
        this.problems.push({ file: this.opts.advisoryUrl, message: (error as Error).message });
      }
    }
    const listing = await listAdvisoryFiles(path);
    let changed = false;
    const removed: string[] = [];
    const added: OsvRecord[] = [];
    const problems: AdvisoryProblem[] = [];
    for (const [file, entry] of this.files) {
      if (!listing.has(file)) {
        for (const id of entry.ids) removed.push(id);
        this.files.delete(file);
        changed = true;
      }
    }
    for (const [file, stamp] of listing) {
      const known = this.files.get(file);
      if (known?.stamp === stamp) continue;
      const data = await readFile(file).catch(() => undefined);
      if (!data) continue;
      let records: OsvRecord[];
      try {
        records = file.endsWith('.zip')
          ? parseOsvZip(data, file, problems)
          : parseOsvJson(data.toString('utf8'), file, problems);
      } catch (error) {
        problems.push({ file, message: isRampartError(error) ? error.message : String(error) });
        continue;
      }
      if (known) for (const id of known.ids) removed.push(id);
      for (const r of records) added.push(r);
      this.files.set(file, { stamp, ids: records.map((r) => r.id) });
      changed = true;
    }
    if (changed) {
      this.index.update(removed, added);
      this.problems = problems;
    }
    return changed;
  }

  /** Re-reads the lockfile when it changed; true when the release's revision changed. */
  private async syncRelease(rel: RunningRelease, state: ReleaseState): Promise<boolean> {
    let lockfile = state.lockfile;
    const moved = rel.revision !== undefined && rel.revision !== state.revision;
    if (!lockfile || moved || !(await stat(lockfile).catch(() => undefined)))
      lockfile = await findLockfile(rel.dir, rel.stopAt ?? rel.dir);
    if (!lockfile) {
      state.error = `no lockfile in ${rel.dir}`;
      state.inventory = undefined;
      return false;
    }
    const s = await stat(lockfile).catch(() => undefined);
    const stamp = s ? `${s.size}:${s.mtimeMs}` : '';
    if (lockfile === state.lockfile && stamp === state.lockStamp && !moved) return false;
    const text = await readFile(lockfile, 'utf8').catch(() => undefined);
    if (text === undefined) return false;
    state.lockfile = lockfile;
    state.lockStamp = stamp;
    const revision = rel.revision ?? createHash('sha256').update(text).digest('hex').slice(0, 12);
    if (revision === state.revision) return false;
    try {
      let manifest;
      if (basename(lockfile) === 'yarn.lock') {
        manifest = JSON.parse(
          await readFile(join(dirname(lockfile), 'package.json'), 'utf8').catch(() => '{}'),
        ) as object;
      }
      state.inventory = parseLockfile(text, lockfile, manifest);
      state.error = undefined;
    } catch (error) {
      state.error = (error as Error).message;
      state.inventory = undefined;
      return false;
    }
    const first = state.revision === '';
    state.revision = revision;
    return !first;
  }

  private async readEvidence(rel: RunningRelease): Promise<LoadedEvidence> {
    const files = rel.modulesFiles ? await rel.modulesFiles().catch(() => []) : [];
    const records: LoadedEvidence['records'] = [];
    for (const file of files) {
      const record = parseModulesRecord(await readFile(file, 'utf8').catch(() => ''));
      if (record) records.push({ file, record });
    }
    // Processes of an older release that exited say nothing about the one that runs now.
    const live = records.filter((r) => !r.record.final && pidAlive(r.record.pid));
    return { records: live.length > 0 ? live : records };
  }

  private async reconcile(
    rel: RunningRelease,
    state: ReleaseState,
    findings: Finding[],
    deployed: boolean,
  ): Promise<void> {
    const now = this.opts.clock.now();
    const records = this.records;
    const groups = new Map<string, Finding[]>();
    for (const f of findings) {
      const k = `${rel.service}/${f.advisory}/${f.package}`;
      groups.set(k, [...(groups.get(k) ?? []), f]);
    }
    for (const [k, list] of groups) {
      const mapKey = `${rel.environment}\0${k}`;
      const first = list[0]!;
      const fixes = list.map((f) => f.fixedVersion);
      const fixedVersion = fixes.includes(undefined) ? undefined : fixes.sort(compareLoose).at(-1);
      let rec = records.get(mapKey);
      const isNew = !rec || rec.state === 'resolved';
      if (!rec) {
        rec = {
          id: findingId(rel.environment, rel.service, first.advisory, first.package),
          environment: rel.environment,
          service: rel.service,
          advisory: first.advisory,
          package: first.package,
          aliases: first.aliases,
          summary: first.summary,
          severity: first.severity,
          state: 'open',
          current: list,
          timeline: [],
          revision: state.revision,
        };
        records.set(mapKey, rec);
      }
      rec.current = list;
      rec.severity = first.severity;
      rec.aliases = first.aliases;
      rec.revision = state.revision;
      if (fixedVersion !== undefined) rec.fixedVersion = fixedVersion;
      else delete rec.fixedVersion;
      const versions = list.map((f) => `${f.package}@${f.version}`).join(', ');
      if (isNew) {
        const reopened = rec.state === 'resolved';
        rec.state = 'open';
        rec.timeline.push({
          at: now,
          event: reopened ? 'reopened' : 'found',
          detail: `${versions} (${first.paths.join(', ')}) in release ${state.revision}; ${first.severity}; loaded: ${first.loaded} (${first.evidence})`,
        });
        await this.respond(rel, rec, list, now, reopened);
      } else if (deployed && (rec.state === 'triggered' || rec.state === 'deployed')) {
        rec.state = 'deployed';
        rec.timeline.push({
          at: now,
          event: 'deployed',
          detail: `release ${state.revision} still has ${versions}`,
        });
      }
      await this.save(rec, now);
    }
    for (const [mapKey, rec] of records) {
      if (rec.environment !== rel.environment || rec.service !== rel.service || rec.state === 'resolved')
        continue;
      if (groups.has(mapKey.slice(rel.environment.length + 1))) continue;
      const had = rec.current.map((f) => `${f.package}@${f.version}`).join(', ');
      const now2 = this.opts.clock.now();
      if (deployed) {
        const installed = state
          .inventory!.packages.filter((p) => p.name === rec.package)
          .map((p) => `${p.name}@${p.version}`);
        rec.timeline.push({
          at: now2,
          event: 'deployed',
          detail: `release ${state.revision} runs ${installed.join(', ') || `no ${rec.package}`}`,
        });
        rec.timeline.push({
          at: now2,
          event: 'verified',
          detail: `re-scan of release ${state.revision} against ${this.index.size} advisories: ${rec.advisory} no longer affects ${rec.package} (was ${had})`,
        });
      } else {
        rec.timeline.push({
          at: now2,
          event: 'verified',
          detail: `advisory data changed: ${rec.advisory} no longer affects ${had}`,
        });
      }
      rec.timeline.push({
        at: now2,
        event: 'resolved',
        detail: `${rec.advisory} in ${rec.package} is gone from ${rel.service}`,
      });
      rec.state = 'resolved';
      rec.current = [];
      rec.revision = state.revision;
      await this.save(rec, now2);
      this.opts.emit?.({
        environment: rel.environment,
        kind: 'vuln.resolved',
        subject: rel.service,
        message: `${rec.advisory} in ${rec.package} resolved`,
        data: { finding: rec.id },
      });
    }
  }

  private async respond(
    rel: RunningRelease,
    rec: FindingRecord,
    list: Finding[],
    now: number,
    reopened: boolean,
  ): Promise<void> {
    // The copy that needs the highest fix decides: fixing it fixes the others.
    const worst = list.find((f) => f.fixedVersion === rec.fixedVersion) ?? list[0]!;
    const decision = decideResponse(
      { ...worst, ...(rec.fixedVersion && { fixedVersion: rec.fixedVersion }) },
      rel.ci,
    );
    rec.decision = decision;
    const what = `${rec.severity} ${rec.advisory}${rec.aliases.length ? ` (${rec.aliases.join(', ')})` : ''} in ${list.map((f) => `${f.package}@${f.version}`).join(', ')} of ${rel.service}`;
    if (decision.action === 'alert-no-fix') {
      rec.timeline.push({ at: now, event: 'no-fix', detail: decision.reason });
      await this.alert(rel, rec, 'no-fix', `${what}: no fix available yet`, now);
      return;
    }
    await this.alert(
      rel,
      rec,
      reopened ? 'reopened' : 'new-finding',
      `${what}: fix ${rec.fixedVersion}; ${decision.action === 'trigger' ? 'triggering CI' : decision.reason}`,
      now,
    );
    if (decision.action !== 'trigger' || !rel.ci) return;
    const svcKey = `${rel.environment}/${rel.service}`;
    const recent = (this.triggerTimes.get(svcKey) ?? []).filter((t) => now - t < 3_600_000);
    if (recent.length >= rel.ci.when.maxPerHour) {
      rec.timeline.push({
        at: now,
        event: 'trigger-failed',
        detail: `rate limit: ${recent.length} triggers in the last hour (ci.when.maxPerHour)`,
      });
      return;
    }
    recent.push(now);
    this.triggerTimes.set(svcKey, recent);
    const target = rel.ci.target;
    try {
      const credential = await readCredential(
        target.kind === 'webhook' ? target.secret : target.token,
        this.opts.env ?? {},
      );
      const req = planTrigger(
        target,
        credential,
        { ...worst, ...(rec.fixedVersion && { fixedVersion: rec.fixedVersion }) },
        { environment: rel.environment, service: rel.service, findingId: rec.id },
        now,
      );
      const res = await sendTrigger(req, this.opts.fetch);
      rec.state = 'triggered';
      const pipeline = res.pipeline?.id !== undefined ? ` pipeline ${res.pipeline.id}` : '';
      rec.timeline.push({
        at: this.opts.clock.now(),
        event: 'triggered',
        detail:
          `${target.kind}${pipeline} (${res.status}) for ${rec.package} ${rec.fixedVersion ?? ''}`.trim(),
      });
      this.opts.emit?.({
        environment: rel.environment,
        kind: 'vuln.triggered',
        subject: rel.service,
        message: `${target.kind}${pipeline}: fix ${rec.package} to ${rec.fixedVersion}`,
        data: { finding: rec.id },
      });
    } catch (error) {
      const message = (error as Error).message;
      rec.timeline.push({ at: this.opts.clock.now(), event: 'trigger-failed', detail: message });
      await this.alert(rel, rec, 'trigger-failed', `${what}: CI trigger failed: ${message}`, now);
    }
  }

  private async alert(
    rel: RunningRelease,
    rec: FindingRecord,
    kind: VulnAlert['kind'],
    message: string,
    now: number,
  ): Promise<void> {
    const alert: VulnAlert = {
      id: `${now.toString(36)}-${rec.id}-${kind}`,
      time: now,
      environment: rel.environment,
      service: rel.service,
      finding: rec.id,
      kind,
      severity: rec.severity,
      message,
    };
    rec.timeline.push({ at: now, event: 'alert', detail: message });
    await this.opts.store.putDocument(
      { kind: ALERT_KIND, environment: rel.environment, key: alert.id, value: alert },
      now,
    );
    this.opts.emit?.({
      environment: rel.environment,
      kind: `vuln.${kind}`,
      subject: rel.service,
      message,
      data: { finding: rec.id },
    });
  }

  private async save(rec: FindingRecord, now: number): Promise<void> {
    await this.opts.store.putDocument(
      {
        kind: FINDING_KIND,
        environment: rec.environment,
        key: `${rec.service}/${rec.advisory}/${rec.package}`,
        value: rec,
      },
      now,
    );
  }
}

function compareLoose(a: string | undefined, b: string | undefined): number {
  const pa = (a ?? '').split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = (b ?? '').split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function findLockfile(dir: string, stopAt: string): Promise<string | undefined> {
  let d = dir;
  for (;;) {
    for (const name of LOCKFILE_NAMES) {
      const file = join(d, name);
      if (
        await stat(file).then(
          (s) => s.isFile(),
          () => false,
        )
      )
        return file;
    }
    const parent = dirname(d);
    if (parent === d || d === stopAt || !d.startsWith(stopAt)) return undefined;
    d = parent;
  }
}

async function listAdvisoryFiles(path: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const s = await stat(path).catch(() => undefined);
  if (!s) return out;
  if (!s.isDirectory()) {
    out.set(path, `${s.size}:${s.mtimeMs}`);
    return out;
  }
  const walk = async (dir: string, depth: number) => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory() && depth === 0) await walk(p, 1);
      else if (e.isFile() && (e.name.endsWith('.json') || e.name.endsWith('.zip'))) {
        const st = await stat(p).catch(() => undefined);
        if (st) out.set(p, `${st.size}:${st.mtimeMs}`);
      }
    }
  };
  await walk(path, 0);
  return out;
}

/**
 * The default release source: every service of every deployed stack. A service that runs from a
 * delivery release (`service.release`) is scanned in that immutable folder, its lockfile the one the
 * release holds and its revision the release id; otherwise its working folder is the release.
 * Module records are read from the file the service's env names in RAMPART_MODULES_FILE (`{pid}` = any).
 */
export function releasesFromStacks(stacks: () => Promise<ResolvedStack[]>): () => Promise<RunningRelease[]> {
  return async () =>
    (await stacks()).flatMap((stack) =>
      stack.services.map((s) => {
        const pattern = s.env.RAMPART_MODULES_FILE;
        return {
          environment: stack.environment,
          service: s.name,
          dir: s.workdir,
          stopAt: s.release?.dir ?? stack.dir,
          ...(s.release && { revision: s.release.id }),
          ...(s.ci && { ci: s.ci }),
          ...(pattern && { modulesFiles: () => modulesFilesOf(pattern) }),
        };
      }),
    );
}

/** Files matching a RAMPART_MODULES_FILE pattern (`{pid}` stands for any process id). */
export async function modulesFilesOf(pattern: string): Promise<string[]> {
  if (!pattern.includes('{pid}')) return [pattern];
  const dir = dirname(pattern);
  const [before, after] = basename(pattern).split('{pid}') as [string, string];
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter(
      (n) =>
        n.startsWith(before) &&
        n.endsWith(after) &&
        /^\d+$/.test(n.slice(before.length, n.length - after.length)),
    )
    .map((n) => join(dir, n));
}
