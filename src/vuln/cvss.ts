import type { Severity } from './types.ts';

/**
 * CVSS v3.0/v3.1 base score from a vector (FIRST CVSS v3.1 specification, section 7.1 and the
 * Roundup of Appendix A). Returns undefined for a vector it cannot read (CVSS v2, v4, garbage).
 */
export function cvss3BaseScore(vector: string): number | undefined {
  if (!/^CVSS:3\.[01]\//.test(vector)) return undefined;
  const m = new Map(
    vector
      .split('/')
      .slice(1)
      .map((part) => part.split(':') as [string, string]),
  );
  const pick = (key: string, table: Record<string, number>) => {
    const v = m.get(key);
    return v !== undefined && v in table ? table[v] : undefined;
  };
  const scope = m.get('S');
  if (scope !== 'U' && scope !== 'C') return undefined;
  const changed = scope === 'C';
  const av = pick('AV', { N: 0.85, A: 0.62, L: 0.55, P: 0.2 });
  const ac = pick('AC', { L: 0.77, H: 0.44 });
  const pr = pick('PR', changed ? { N: 0.85, L: 0.68, H: 0.5 } : { N: 0.85, L: 0.62, H: 0.27 });
  const ui = pick('UI', { N: 0.85, R: 0.62 });
  const cia = { H: 0.56, L: 0.22, N: 0 };
  const c = pick('C', cia);
  const i = pick('I', cia);
  const a = pick('A', cia);
  if ([av, ac, pr, ui, c, i, a].some((x) => x === undefined)) return undefined;
  const iss = 1 - (1 - c!) * (1 - i!) * (1 - a!);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 : 6.42 * iss;
  const exploitability = 8.22 * av! * ac! * pr! * ui!;
  if (impact <= 0) return 0;
  return roundUp(Math.min((changed ? 1.08 : 1) * (impact + exploitability), 10));
}

/** CVSS v3.1 Appendix A: round up to one decimal without floating-point surprises. */
function roundUp(x: number): number {
  const n = Math.round(x * 100_000);
  return n % 10_000 === 0 ? n / 100_000 : (Math.floor(n / 10_000) + 1) / 10;
}

/** CVSS qualitative rating (v3.1 section 5), in GitHub's words (`moderate` for medium). */
export function severityOfScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'moderate';
  return 'low';
}

/** GHSA's `database_specific.severity` and similar words. */
export function severityOfWord(word: unknown): Severity | undefined {
  if (typeof word !== 'string') return undefined;
  const w = word.toLowerCase();
  if (w === 'critical' || w === 'high' || w === 'low') return w;
  if (w === 'moderate' || w === 'medium') return 'moderate';
  return undefined;
}
