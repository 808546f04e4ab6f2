import { parseDocument } from 'yaml';
import { lockfileError, isObject } from './lockfile-errors.ts';
import { inventoryFromGraph, splitNameVersion, type GraphNode } from './lockfile-graph.ts';
import type { Inventory } from './types.ts';

/**
 * pnpm-lock.yaml v6 (`/name@version` keys, `packages` holds the graph) and v9 (`name@version` keys,
 * `packages` holds metadata and `snapshots` the graph). Peer suffixes `(react@18.2.0)` are variants of
 * one installed version. Paths are pnpm's virtual store folders.
 */
export function parsePnpmLock(text: string, file: string): Inventory {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw lockfileError(file, `is not valid YAML (${e.message.split('\n')[0]})`, {
      line: e.linePos?.[0]?.line,
    });
  }
  const data: unknown = doc.toJS();
  if (!isObject(data)) throw lockfileError(file, 'is not a YAML mapping');
  const version = String(data.lockfileVersion ?? '');
  const major = Number.parseInt(version, 10);
  if (major !== 6 && major !== 9) {
    throw lockfileError(file, `unsupported lockfileVersion '${version}' (Rampart reads pnpm 6.x and 9.x)`, {
      field: 'lockfileVersion',
      fix: 'update the lockfile with pnpm 8 or 9 (`pnpm install --lockfile-only`)',
    });
  }
  const v9 = major === 9;
  const graphSection = v9 ? data.snapshots : data.packages;
  const graph = isObject(graphSection) ? graphSection : {};
  const meta = isObject(data.packages) ? data.packages : {};
  const nodes = new Map<string, GraphNode>();
  const idOf = (key: string) => (v9 ? key : key.replace(/^\//, ''));
  const nameVersion = (id: string, field: string) => {
    const base = id.replace(/\(.*$/, '');
    const nv = splitNameVersion(base);
    if (!nv) throw lockfileError(file, `cannot read name@version from '${id}'`, { field });
    return nv;
  };
  /** A dependency value (`1.2.3(peer@1)`, v6 `/other@1.2.3`, v9 alias `other@1.2.3`, `link:../x`). */
  const target = (depName: string, value: string): string | undefined => {
    if (value.startsWith('link:') || value.startsWith('file:')) return `link:${depName}`;
    if (value.startsWith('/')) return value.slice(1);
    const base = value.replace(/\(.*$/, '');
    return base.lastIndexOf('@') > 0 ? value : `${depName}@${value}`;
  };
  for (const [key, raw] of Object.entries(graph)) {
    const section = v9 ? 'snapshots' : 'packages';
    const field = `${section}["${key}"]`;
    if (raw !== null && !isObject(raw)) throw lockfileError(file, 'must be a mapping', { field });
    const entry = (raw ?? {}) as Record<string, unknown>;
    const id = idOf(key);
    const { name, version: ver } = nameVersion(id, field);
    const metaEntry = meta[v9 ? id.replace(/\(.*$/, '') : key];
    const deps: string[] = [];
    for (const f of ['dependencies', 'optionalDependencies']) {
      const d = entry[f];
      if (d === undefined) continue;
      if (!isObject(d)) throw lockfileError(file, 'must be a mapping', { field: `${field}.${f}` });
      for (const [depName, value] of Object.entries(d)) {
        const t = target(depName, String(value));
        if (t) deps.push(t);
      }
    }
    nodes.set(id, {
      name,
      version: ver,
      paths: [`node_modules/.pnpm/${name.replace('/', '+')}@${ver}/node_modules/${name}`],
      aliases: [],
      workspace: false,
      optional: entry.optional === true || (isObject(metaEntry) && metaEntry.optional === true),
      deps,
    });
  }
  const importers: Record<string, unknown> = isObject(data.importers) ? data.importers : { '.': data };
  const prodRoots: string[] = [];
  const devRoots: string[] = [];
  for (const [dir, imp] of Object.entries(importers)) {
    if (!isObject(imp)) continue;
    for (const f of ['dependencies', 'optionalDependencies', 'devDependencies']) {
      const d = imp[f];
      if (!isObject(d)) continue;
      for (const [depName, spec] of Object.entries(d)) {
        const value = isObject(spec) ? String(spec.version ?? '') : String(spec);
        if (value.startsWith('link:')) {
          const path = (dir === '.' ? '' : `${dir}/`) + `node_modules/${depName}`;
          nodes.set(`link:${dir}:${depName}`, {
            name: depName,
            version: '0.0.0',
            paths: [path],
            aliases: [],
            workspace: true,
            optional: false,
            deps: [],
          });
          (f === 'devDependencies' ? devRoots : prodRoots).push(`link:${dir}:${depName}`);
          continue;
        }
        const id = target(depName, value)!;
        const node = nodes.get(id);
        // `foo: { specifier: npm:lodash@4.17.21, version: lodash@4.17.21 }` installs lodash as foo.
        if (node && depName !== node.name && !node.aliases.includes(depName)) node.aliases.push(depName);
        (f === 'devDependencies' ? devRoots : prodRoots).push(id);
      }
    }
  }
  return inventoryFromGraph({
    file,
    format: v9 ? 'pnpm-lock-v9' : 'pnpm-lock-v6',
    root: { name: '', version: '' },
    nodes,
    prodRoots,
    devRoots,
  });
}
