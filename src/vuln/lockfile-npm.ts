import { lockfileError, isObject } from './lockfile-errors.ts';
import type { InstalledPackage, Inventory, LockfileFormat } from './types.ts';

/**
 * package-lock.json (and npm-shrinkwrap.json) v1, v2 and v3. v2/v3 list every install location in
 * `packages` (`node_modules/a/node_modules/b`); v1 nests `dependencies`. Both are read into the same
 * location table, then grouped by name@version, so a package installed in two folders is one entry with
 * two paths, and two versions of one package are two entries.
 */

interface Location {
  path: string;
  /** Name the folder is installed under. */
  installName: string;
  name: string;
  version: string;
  dev: boolean;
  optional: boolean;
  peer: boolean;
  workspace: boolean;
  /** `link: true` entries point at their target folder. */
  linkTo?: string;
  deps: string[];
}

const DEP_FIELDS = ['dependencies', 'optionalDependencies', 'peerDependencies'] as const;

/** `node_modules/a/node_modules/@s/b` -> `@s/b`; a workspace folder `packages/x` -> undefined. */
export function installNameOf(path: string): string | undefined {
  const i = path.lastIndexOf('node_modules/');
  if (i < 0) return undefined;
  return path.slice(i + 'node_modules/'.length);
}

/** The folder whose node_modules is searched next by Node's resolution. */
function parentOf(path: string): string | undefined {
  if (path === '') return undefined;
  const i = path.lastIndexOf('/node_modules/');
  if (i >= 0) return path.slice(0, i);
  return '';
}

/** Splits `npm:lodash@4.17.21` / `npm:@s/x@1.0.0` into name and version. */
export function parseNpmAlias(spec: string): { name: string; version: string } | undefined {
  if (!spec.startsWith('npm:')) return undefined;
  const rest = spec.slice(4);
  const at = rest.lastIndexOf('@');
  if (at <= 0) return undefined;
  return { name: rest.slice(0, at), version: rest.slice(at + 1) };
}

export function parsePackageLock(text: string, file: string): Inventory {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw lockfileError(file, `is not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(doc)) throw lockfileError(file, 'is not a JSON object');
  const v = doc.lockfileVersion;
  if (v !== 1 && v !== 2 && v !== 3) {
    throw lockfileError(file, `unsupported lockfileVersion ${JSON.stringify(v)} (Rampart reads 1, 2 and 3)`, {
      field: 'lockfileVersion',
    });
  }
  const format = `package-lock-v${v}` as LockfileFormat;
  const locations = new Map<string, Location>();
  let rootDeps: string[];
  let root: { name: string; version: string };
  if (v === 1) {
    if (doc.dependencies !== undefined && !isObject(doc.dependencies))
      throw lockfileError(file, 'must be an object', { field: 'dependencies' });
    readV1(
      file,
      (doc.dependencies as Record<string, unknown> | undefined) ?? {},
      '',
      'dependencies',
      locations,
    );
    root = { name: str(doc.name) ?? '', version: str(doc.version) ?? '' };
    rootDeps = [...locations.keys()].filter((p) => parentOf(p) === '');
  } else {
    if (!isObject(doc.packages)) {
      throw lockfileError(file, 'is missing; a v2/v3 lockfile lists every install location there', {
        field: 'packages',
      });
    }
    readPackages(file, doc.packages, locations);
    const rootEntry = isObject(doc.packages['']) ? doc.packages[''] : {};
    root = { name: str(rootEntry.name) ?? str(doc.name) ?? '', version: str(rootEntry.version) ?? '' };
    rootDeps = depNames(rootEntry, true)
      .map((n) => resolveFrom(locations, '', n))
      .filter((p): p is string => p !== undefined);
  }
  return group(file, format, root, rootDeps, locations);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function depNames(entry: Record<string, unknown>, withDev: boolean): string[] {
  const fields = withDev ? [...DEP_FIELDS, 'devDependencies'] : DEP_FIELDS;
  const names = new Set<string>();
  for (const f of fields) if (isObject(entry[f])) for (const n of Object.keys(entry[f])) names.add(n);
  return [...names];
}

function readPackages(file: string, packages: Record<string, unknown>, out: Map<string, Location>): void {
  for (const [path, raw] of Object.entries(packages)) {
    if (path === '') continue;
    const field = `packages["${path}"]`;
    if (!isObject(raw)) throw lockfileError(file, 'must be an object', { field });
    const installName = installNameOf(path);
    const flags = {
      dev: raw.dev === true,
      optional: raw.optional === true || raw.devOptional === true,
      peer: raw.peer === true,
    };
    if (raw.link === true) {
      const target = str(raw.resolved);
      if (target === undefined)
        throw lockfileError(file, 'a link entry needs `resolved` (the linked folder)', {
          field: `${field}.resolved`,
        });
      out.set(path, {
        path,
        installName: installName ?? path,
        name: installName ?? path,
        version: '',
        ...flags,
        workspace: true,
        linkTo: target,
        deps: [],
      });
      continue;
    }
    const version = str(raw.version);
    const workspace = installName === undefined;
    if (version === undefined && !workspace) {
      throw lockfileError(file, 'has no version', { field: `${field}.version` });
    }
    const name = str(raw.name) ?? installName ?? path.split('/').at(-1)!;
    out.set(path, {
      path,
      installName: installName ?? name,
      name,
      version: version ?? '0.0.0',
      ...flags,
      workspace,
      deps: depNames(raw, workspace),
    });
  }
}

function readV1(
  file: string,
  deps: Record<string, unknown>,
  parent: string,
  fieldPrefix: string,
  out: Map<string, Location>,
): void {
  for (const [installName, raw] of Object.entries(deps)) {
    const field = `${fieldPrefix}["${installName}"]`;
    if (!isObject(raw)) throw lockfileError(file, 'must be an object', { field });
    const path = parent === '' ? `node_modules/${installName}` : `${parent}/node_modules/${installName}`;
    const spec = str(raw.version);
    if (spec === undefined) throw lockfileError(file, 'has no version', { field: `${field}.version` });
    const alias = parseNpmAlias(spec);
    const linked = spec.startsWith('file:') || spec.startsWith('link:');
    out.set(path, {
      path,
      installName,
      name: alias?.name ?? installName,
      version: alias?.version ?? (linked ? '0.0.0' : spec),
      dev: raw.dev === true,
      optional: raw.optional === true,
      peer: false,
      workspace: linked,
      deps: isObject(raw.requires) ? Object.keys(raw.requires) : [],
    });
    if (raw.dependencies !== undefined) {
      if (!isObject(raw.dependencies))
        throw lockfileError(file, 'must be an object', { field: `${field}.dependencies` });
      readV1(file, raw.dependencies, path, `${field}.dependencies`, out);
    }
  }
}

/** Node's resolution: `<from>/node_modules/<name>`, then each parent folder's, up to the root. */
function resolveFrom(locations: Map<string, Location>, from: string, name: string): string | undefined {
  let base: string | undefined = from;
  while (base !== undefined) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    const hit = locations.get(candidate);
    if (hit) return hit.linkTo !== undefined && locations.has(hit.linkTo) ? hit.linkTo : candidate;
    base = parentOf(base);
  }
  return undefined;
}

function refOf(l: Location): string {
  return l.workspace ? `${l.name}@workspace:${l.path}` : `${l.name}@${l.version}`;
}

function group(
  file: string,
  format: LockfileFormat,
  root: { name: string; version: string },
  rootDeps: string[],
  locations: Map<string, Location>,
): Inventory {
  const byRef = new Map<string, InstalledPackage>();
  const refAt = new Map<string, string>();
  for (const l of locations.values()) {
    if (l.linkTo !== undefined) continue;
    const ref = refOf(l);
    refAt.set(l.path, ref);
    const p = byRef.get(ref);
    if (!p) {
      byRef.set(ref, {
        ref,
        name: l.name,
        version: l.version,
        paths: [l.path],
        dev: l.dev,
        optional: l.optional,
        peer: l.peer,
        aliases: l.installName !== l.name && !l.workspace ? [l.installName] : [],
        workspace: l.workspace,
        dependencies: [],
      });
    } else {
      p.paths.push(l.path);
      p.dev &&= l.dev;
      p.optional &&= l.optional;
      p.peer &&= l.peer;
      if (l.installName !== l.name && !p.aliases.includes(l.installName)) p.aliases.push(l.installName);
    }
  }
  // Links: the folder they are installed under is one more path of the workspace package.
  for (const l of locations.values()) {
    if (l.linkTo === undefined) continue;
    const ref = refAt.get(l.linkTo);
    if (ref) byRef.get(ref)!.paths.push(l.path);
  }
  for (const l of locations.values()) {
    if (l.linkTo !== undefined) continue;
    const p = byRef.get(refAt.get(l.path)!)!;
    for (const dep of l.deps) {
      const at = resolveFrom(locations, l.path, dep);
      const ref = at === undefined ? undefined : refAt.get(at);
      if (ref !== undefined && ref !== p.ref && !p.dependencies.includes(ref)) p.dependencies.push(ref);
    }
  }
  const packages = [...byRef.values()].sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  for (const p of packages) {
    p.paths.sort();
    p.dependencies.sort();
    p.aliases.sort();
  }
  const rootRefs = [
    ...new Set(rootDeps.map((p) => refAt.get(p)).filter((r): r is string => r !== undefined)),
  ];
  return { lockfile: file, format, root, rootDependencies: rootRefs.sort(), packages };
}

export { group as groupLocations };
export type { Location as LockLocation };
