import type { InstalledPackage, Inventory, LockfileFormat } from './types.ts';

/** A package as a graph node, for lockfiles that do not record dev/prod per package (pnpm v9, yarn). */
export interface GraphNode {
  name: string;
  version: string;
  paths: string[];
  aliases: string[];
  workspace: boolean;
  optional: boolean;
  /** Node ids. */
  deps: string[];
}

function refOf(n: GraphNode): string {
  return n.workspace ? `${n.name}@workspace:${n.paths[0] ?? ''}` : `${n.name}@${n.version}`;
}

/**
 * Marks every node reachable from the production roots as production, the rest as dev, then groups
 * nodes by name@version (pnpm peer variants of one version are one package).
 */
export function inventoryFromGraph(opts: {
  file: string;
  format: LockfileFormat;
  root: { name: string; version: string };
  nodes: Map<string, GraphNode>;
  prodRoots: string[];
  devRoots: string[];
}): Inventory {
  const { nodes } = opts;
  const prod = new Set<string>();
  const stack = opts.prodRoots.filter((id) => nodes.has(id));
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (prod.has(id)) continue;
    prod.add(id);
    for (const d of nodes.get(id)!.deps) if (nodes.has(d) && !prod.has(d)) stack.push(d);
  }
  const byRef = new Map<string, InstalledPackage>();
  const refOfId = new Map<string, string>();
  for (const [id, n] of nodes) {
    const ref = refOf(n);
    refOfId.set(id, ref);
    const p = byRef.get(ref);
    if (!p) {
      byRef.set(ref, {
        ref,
        name: n.name,
        version: n.version,
        paths: [...n.paths],
        dev: !prod.has(id),
        optional: n.optional,
        peer: false,
        aliases: [...n.aliases],
        workspace: n.workspace,
        dependencies: [],
      });
    } else {
      for (const path of n.paths) if (!p.paths.includes(path)) p.paths.push(path);
      for (const a of n.aliases) if (!p.aliases.includes(a)) p.aliases.push(a);
      p.dev &&= !prod.has(id);
      p.optional &&= n.optional;
    }
  }
  for (const [id, n] of nodes) {
    const p = byRef.get(refOfId.get(id)!)!;
    for (const d of n.deps) {
      const ref = refOfId.get(d);
      if (ref !== undefined && ref !== p.ref && !p.dependencies.includes(ref)) p.dependencies.push(ref);
    }
  }
  const packages = [...byRef.values()].sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  for (const p of packages) {
    p.paths.sort();
    p.aliases.sort();
    p.dependencies.sort();
  }
  const rootRefs = new Set<string>();
  for (const id of [...opts.prodRoots, ...opts.devRoots]) {
    const ref = refOfId.get(id);
    if (ref !== undefined) rootRefs.add(ref);
  }
  return {
    lockfile: opts.file,
    format: opts.format,
    root: opts.root,
    rootDependencies: [...rootRefs].sort(),
    packages,
  };
}

/** `@scope/name@1.0.0` -> name and version (the last `@` not at the start). */
export function splitNameVersion(spec: string): { name: string; version: string } | undefined {
  const at = spec.lastIndexOf('@');
  if (at <= 0) return undefined;
  return { name: spec.slice(0, at), version: spec.slice(at + 1) };
}
