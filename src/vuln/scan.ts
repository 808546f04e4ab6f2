import { readInventory } from './lockfile.ts';
import { loadAdvisories, type AdvisoryProblem } from './advisories.ts';
import { loadedState, type LoadedEvidence } from './loaded.ts';
import { AdvisoryIndex, matchVersion } from './osv.ts';
import { SEVERITIES, type Finding, type Inventory } from './types.ts';

/** Pure: every advisory that affects an installed package, one finding per advisory and name@version. */
export function matchInventory(inv: Inventory, index: AdvisoryIndex, evidence?: LoadedEvidence): Finding[] {
  const out: Finding[] = [];
  for (const p of inv.packages) {
    if (p.workspace) continue;
    for (const m of matchVersion(index, p.name, p.version)) {
      const a = m.advisory;
      const loaded = loadedState(evidence, p.name, p.version);
      out.push({
        key: `${a.id}:${p.name}@${p.version}`,
        package: p.name,
        version: p.version,
        paths: [...p.paths],
        advisory: a.id,
        aliases: [...a.aliases],
        summary: a.summary,
        severity: a.severity,
        ...(a.score !== undefined && { score: a.score }),
        ...(m.fixedVersion !== undefined && { fixedVersion: m.fixedVersion }),
        production: !p.dev,
        loaded: loaded.loaded,
        evidence: loaded.evidence,
        malicious: a.malicious,
      });
    }
  }
  return sortFindings(out);
}

/** Most severe first, then production before dev, then by key. */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort(
    (a, b) =>
      SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) ||
      Number(b.production) - Number(a.production) ||
      (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
}

export interface ScanResult {
  inventory: Inventory;
  findings: Finding[];
  advisories: {
    source: string;
    records: number;
    indexed: number;
    withdrawn: number;
    problems: AdvisoryProblem[];
  };
}

/** `rampart vuln scan`: a folder (or lockfile) against an advisory folder or zip, no daemon needed. */
export async function scanPath(
  path: string,
  advisoriesPath: string,
  evidence?: LoadedEvidence,
): Promise<ScanResult> {
  const [inventory, loadedAdvisories] = await Promise.all([
    readInventory(path),
    loadAdvisories(advisoriesPath),
  ]);
  const index = new AdvisoryIndex(loadedAdvisories.records);
  return {
    inventory,
    findings: matchInventory(inventory, index, evidence),
    advisories: {
      source: advisoriesPath,
      records: loadedAdvisories.records.length,
      indexed: index.size,
      withdrawn: index.withdrawn,
      problems: loadedAdvisories.problems,
    },
  };
}
