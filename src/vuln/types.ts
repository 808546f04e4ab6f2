/**
 * The vulnerability capability's data: what a release has installed (from its lockfile), the
 * advisories that apply to it, and the findings that join the two.
 */

export type LockfileFormat =
  | 'package-lock-v1'
  | 'package-lock-v2'
  | 'package-lock-v3'
  | 'pnpm-lock-v6'
  | 'pnpm-lock-v9'
  | 'yarn-v1'
  | 'yarn-berry';

/** One installed package version; several install paths when npm placed copies in several folders. */
export interface InstalledPackage {
  /** Stable id inside one inventory: `<name>@<version>` (workspace packages: `<name>@workspace:<path>`). */
  ref: string;
  /** The registry name (an `npm:` alias resolves to the real package). */
  name: string;
  version: string;
  /** Where it lies, relative to the lockfile's folder, e.g. `node_modules/a/node_modules/b` (npm),
   * `node_modules/.pnpm/b@1.0.0/node_modules/b` (pnpm) or `b@^1.0.0` descriptors (yarn). */
  paths: string[];
  /** Only reachable through devDependencies: never in a production install. */
  dev: boolean;
  optional: boolean;
  peer: boolean;
  /** Names it is installed under when that differs from `name` (`"foo": "npm:lodash@4.17.21"`). */
  aliases: string[];
  /** A workspace package linked in (`link: true`); not from the registry, never matched. */
  workspace: boolean;
  /** Refs of the packages it depends on (the dependency graph). */
  dependencies: string[];
}

export interface Inventory {
  /** Absolute path of the lockfile it was read from. */
  lockfile: string;
  format: LockfileFormat;
  root: { name: string; version: string };
  /** Refs the root depends on directly. */
  rootDependencies: string[];
  /** Sorted by ref. */
  packages: InstalledPackage[];
}

export type Severity = 'critical' | 'high' | 'moderate' | 'low' | 'unknown';
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'moderate', 'low', 'unknown'];

/** One finding: an advisory that affects one installed package version. */
export interface Finding {
  /** Stable key: `<advisory id>:<package name>@<version>`. */
  key: string;
  package: string;
  version: string;
  paths: string[];
  advisory: string;
  aliases: string[];
  summary: string;
  severity: Severity;
  /** CVSS base score when the advisory carries a CVSS v3 vector. */
  score?: number;
  /** The lowest version above the installed one that the advisory no longer affects; absent: no fix. */
  fixedVersion?: string;
  /** `false` when every copy is a dev dependency. */
  production: boolean;
  loaded: LoadedState;
  /** Why `loaded` has its value (which process, which record). */
  evidence: string;
  malicious: boolean;
}

export type LoadedState = true | false | 'unknown';
