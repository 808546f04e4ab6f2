import { parseDocument } from 'yaml';
import { lockfileError, isObject } from './lockfile-errors.ts';
import { parseNpmAlias } from './lockfile-npm.ts';
import { inventoryFromGraph, splitNameVersion, type GraphNode } from './lockfile-graph.ts';
import type { Inventory } from './types.ts';

/** The project's package.json, which yarn.lock v1 does not copy: it says what is dev and what is not. */
export interface RootManifest {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/**
 * yarn.lock, classic (v1, its own format) and berry (v2+, YAML with `__metadata`). Yarn records ranges,
 * not folders, so a package's "paths" are the descriptors that resolved to it (`lodash@^4.17.0`);
 * dev vs production comes from reachability from the root manifest's dependencies.
 */
export function parseYarnLock(text: string, file: string, manifest: RootManifest = {}): Inventory {
  return text.includes('__metadata:') ? parseBerry(text, file, manifest) : parseClassic(text, file, manifest);
}

function unquote(s: string): string {
  const t = s.trim();
  return t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

/** `lodash@^4.17.0` -> name `lodash`, range `^4.17.0`; `@s/x@npm:y@1` -> `@s/x`, `npm:y@1`. */
function splitDescriptor(d: string): { name: string; range: string } | undefined {
  const at = d.indexOf('@', 1);
  if (at < 0) return undefined;
  return { name: d.slice(0, at), range: d.slice(at + 1) };
}

interface ClassicEntry {
  line: number;
  descriptors: string[];
  fields: Record<string, string>;
  deps: Record<string, string>;
  optionalDeps: Record<string, string>;
}

function parseClassic(text: string, file: string, manifest: RootManifest): Inventory {
  const entries: ClassicEntry[] = [];
  let current: ClassicEntry | undefined;
  let section: 'deps' | 'optionalDeps' | undefined;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const indent = line.length - line.trimStart().length;
    if (indent === 0) {
      if (!line.endsWith(':')) {
        throw lockfileError(file, `expected 'descriptor[, descriptor]:' but found '${line.slice(0, 60)}'`, {
          line: i + 1,
          fix: 'regenerate it with `yarn install` (yarn.lock is not meant to be edited by hand)',
        });
      }
      current = {
        line: i + 1,
        descriptors: line
          .slice(0, -1)
          .split(',')
          .map((d) => unquote(d))
          .filter((d) => d !== ''),
        fields: {},
        deps: {},
        optionalDeps: {},
      };
      entries.push(current);
      section = undefined;
      return;
    }
    if (!current) throw lockfileError(file, 'indented line before any entry', { line: i + 1 });
    const body = line.trim();
    if (indent === 2) {
      if (body === 'dependencies:') section = 'deps';
      else if (body === 'optionalDependencies:') section = 'optionalDeps';
      else {
        section = undefined;
        const sp = body.indexOf(' ');
        if (sp > 0) current.fields[body.slice(0, sp)] = unquote(body.slice(sp + 1));
      }
      return;
    }
    if (section) {
      const m = /^("[^"]+"|\S+)\s+(.+)$/.exec(body);
      if (!m) throw lockfileError(file, `cannot read dependency '${body}'`, { line: i + 1 });
      current[section][unquote(m[1]!)] = unquote(m[2]!);
    }
  });
  const nodes = new Map<string, GraphNode>();
  const idByDescriptor = new Map<string, string>();
  for (const e of entries) {
    const version = e.fields.version;
    if (version === undefined) throw lockfileError(file, 'entry has no version', { line: e.line });
    const first = splitDescriptor(e.descriptors[0] ?? '');
    if (!first) throw lockfileError(file, `cannot read descriptor '${e.descriptors[0]}'`, { line: e.line });
    const alias = parseNpmAlias(first.range);
    const name = alias?.name ?? first.name;
    const id = `${name}@${version}`;
    const node = nodes.get(id) ?? {
      name,
      version,
      paths: [],
      aliases: [],
      workspace: false,
      optional: false,
      deps: [],
    };
    for (const d of e.descriptors) {
      node.paths.push(d);
      idByDescriptor.set(d, id);
      const sd = splitDescriptor(d);
      if (sd && sd.name !== name && !node.aliases.includes(sd.name)) node.aliases.push(sd.name);
    }
    const deps = { ...e.deps, ...e.optionalDeps };
    for (const [n, r] of Object.entries(deps)) node.deps.push(`${n}@${r}`);
    nodes.set(id, node);
  }
  for (const n of nodes.values()) n.deps = n.deps.map((d) => idByDescriptor.get(d) ?? d);
  const roots = (deps: Record<string, string> | undefined) =>
    Object.entries(deps ?? {}).map(([n, r]) => idByDescriptor.get(`${n}@${r}`) ?? `${n}@${r}`);
  return inventoryFromGraph({
    file,
    format: 'yarn-v1',
    root: { name: manifest.name ?? '', version: manifest.version ?? '' },
    nodes,
    prodRoots: [...roots(manifest.dependencies), ...roots(manifest.optionalDependencies)],
    devRoots: roots(manifest.devDependencies),
  });
}

function parseBerry(text: string, file: string, manifest: RootManifest): Inventory {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw lockfileError(file, `is not valid YAML (${e.message.split('\n')[0]})`, {
      line: e.linePos?.[0]?.line,
    });
  }
  const data: unknown = doc.toJS();
  if (!isObject(data)) throw lockfileError(file, 'is not a YAML mapping');
  const nodes = new Map<string, GraphNode>();
  const idByDescriptor = new Map<string, string>();
  const depsOf = new Map<string, string[]>();
  let rootId: string | undefined;
  for (const [key, raw] of Object.entries(data)) {
    if (key === '__metadata') continue;
    const field = `"${key}"`;
    if (!isObject(raw)) throw lockfileError(file, 'must be a mapping', { field });
    const resolution = typeof raw.resolution === 'string' ? raw.resolution : undefined;
    const version = raw.version === undefined ? undefined : String(raw.version);
    if (!resolution || version === undefined)
      throw lockfileError(file, 'needs resolution and version', { field: `${field}.resolution` });
    // `lodash@npm:4.17.21`: the name is before the protocol.
    const proto = resolution.indexOf('@', 1);
    const name = resolution.slice(0, proto);
    const workspace = resolution.slice(proto + 1).startsWith('workspace:');
    const id = workspace ? resolution : `${name}@${version}`;
    if (resolution.endsWith('@workspace:.')) rootId = id;
    const descriptors = key.split(',').map((d) => d.trim());
    const node = nodes.get(id) ?? {
      name,
      version: workspace ? '0.0.0' : (splitNameVersion(`${name}@${version}`)?.version ?? version),
      paths: [],
      aliases: [],
      workspace,
      optional: false,
      deps: [],
    };
    for (const d of descriptors) {
      node.paths.push(d);
      idByDescriptor.set(d, id);
      const sd = splitDescriptor(d);
      if (sd && sd.name !== name && !node.aliases.includes(sd.name)) node.aliases.push(sd.name);
    }
    if (workspace) node.paths = [resolution.slice(proto + 1 + 'workspace:'.length)];
    const deps: string[] = [];
    for (const f of ['dependencies', 'optionalDependencies']) {
      const d = raw[f];
      if (isObject(d)) for (const [n, r] of Object.entries(d)) deps.push(`${n}@${String(r)}`);
    }
    depsOf.set(id, [...(depsOf.get(id) ?? []), ...deps]);
    nodes.set(id, node);
  }
  for (const [id, deps] of depsOf) nodes.get(id)!.deps = deps.map((d) => idByDescriptor.get(d) ?? d);
  // Berry merges a workspace's devDependencies into its `dependencies`: package.json tells them apart.
  const dev = new Set(Object.keys(manifest.devDependencies ?? {}));
  const rootDescriptors = rootId ? (depsOf.get(rootId) ?? []) : [];
  const prodRoots: string[] = [];
  const devRoots: string[] = [];
  for (const d of rootDescriptors) {
    const id = idByDescriptor.get(d) ?? d;
    (dev.has(splitDescriptor(d)?.name ?? '') ? devRoots : prodRoots).push(id);
  }
  if (rootId) nodes.delete(rootId);
  return inventoryFromGraph({
    file,
    format: 'yarn-berry',
    root: { name: manifest.name ?? '', version: manifest.version ?? '' },
    nodes,
    prodRoots,
    devRoots,
  });
}
