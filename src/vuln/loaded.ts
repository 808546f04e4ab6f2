import type { LoadedState } from './types.ts';

/** What the modules preload (`preload/modules.cjs`) writes for one process. */
export interface ModulesRecord {
  pid: number;
  cwd: string;
  startedAt: number;
  updatedAt: number;
  /** `true` once the process has exited: nothing more can load. */
  final: boolean;
  packages: { name: string; version: string; dir: string }[];
}

/** The records of the replicas of one release, with the file each came from. */
export interface LoadedEvidence {
  records: { file: string; record: ModulesRecord }[];
}

/** Pure: is `name@version` loaded by any replica, and what says so. */
export function loadedState(
  evidence: LoadedEvidence | undefined,
  name: string,
  version: string,
): { loaded: LoadedState; evidence: string } {
  const records = evidence?.records ?? [];
  if (records.length === 0) {
    return {
      loaded: 'unknown',
      evidence: 'no module record: the replicas run without the modules preload, or none has started',
    };
  }
  for (const { file, record } of records) {
    const hit = record.packages.find((p) => p.name === name && p.version === version);
    if (hit) {
      return {
        loaded: true,
        evidence: `pid ${record.pid} loaded ${hit.dir} (${file}, ${new Date(record.updatedAt).toISOString()})`,
      };
    }
  }
  const r = records.reduce((a, b) => (b.record.updatedAt > a.record.updatedAt ? b : a));
  const total = records.reduce((n, x) => n + x.record.packages.length, 0);
  return {
    loaded: false,
    evidence: `not among the ${total} package loads recorded by ${records.length} process(es) (latest: pid ${r.record.pid}, ${r.file}, ${new Date(r.record.updatedAt).toISOString()}${r.record.final ? ', exited' : ', still running: a lazy require could load it later'})`,
  };
}

/** Pure: parses a record file's text; undefined when it is not one (half-written files never are: the
 * preload renames a complete file into place). */
export function parseModulesRecord(text: string): ModulesRecord | undefined {
  try {
    const r = JSON.parse(text) as ModulesRecord;
    return typeof r.pid === 'number' && Array.isArray(r.packages) ? r : undefined;
  } catch {
    return undefined;
  }
}
