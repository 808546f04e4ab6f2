import { resolve } from 'node:path';
import { parseDuration } from '../platform/clock.ts';
import { RampartError } from '../platform/errors.ts';

/** The daemon's vulnerability settings, resolved once at the edge from its environment. */
export interface ResolvedVulnConfig {
  /** RAMPART_ADVISORIES: OSV folder or all.zip. Absent: the manager does not run. */
  readonly advisoryPath?: string;
  /** RAMPART_ADVISORIES_URL: refreshed into the advisory folder where the site allows it. */
  readonly advisoryUrl?: string;
  /** RAMPART_ADVISORIES_REFRESH (duration). @default 6h */
  readonly refreshMs: number;
  /** RAMPART_VULN_POLL (duration): how often releases and advisories are checked. @default 30s */
  readonly pollMs: number;
}

export function resolveVulnConfig(env: Readonly<Record<string, string | undefined>>): ResolvedVulnConfig {
  const duration = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const ms = parseDuration(/^\d+$/.test(raw) ? Number(raw) : raw);
    if (ms === undefined || ms <= 0)
      throw new RampartError('RAMPART_E_BAD_REQUEST', `${name}=${raw} is not a duration`, {
        field: name,
        fix: `write it like ${name}=30s`,
      });
    return ms;
  };
  return Object.freeze({
    ...(env.RAMPART_ADVISORIES && { advisoryPath: resolve(env.RAMPART_ADVISORIES) }),
    ...(env.RAMPART_ADVISORIES_URL && { advisoryUrl: env.RAMPART_ADVISORIES_URL }),
    refreshMs: duration('RAMPART_ADVISORIES_REFRESH', 6 * 3_600_000),
    pollMs: duration('RAMPART_VULN_POLL', 30_000),
  });
}
