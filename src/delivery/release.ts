import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Exec } from '../platform/exec.ts';
import type { ResolvedService, ResolvedStack } from '../stack/index.ts';

/**
 * Releases (docs/decisions/0005-releases.md). A release is an immutable copy of what one service
 * runs: its code folder and the stack's shared code next to it, plus its resolved spec, named by a
 * hash of both. Replicas run from `<state>/releases/<service>/<id>`, read-only; the dependencies
 * (`node_modules`) are hard-linked once per lockfile into `<state>/releases/_deps/<hash>` and linked
 * from each release, so a release costs a copy of the service's own files only.
 */

/** What a release of one service is made of, found on disk (no copy yet). */
export interface ReleaseSource {
  service: string;
  namespace: string;
  /** The folder copied: the stack's folder when the workdir is inside it (shared code), else the workdir. */
  root: string;
  /** The workdir relative to `root` ('' when equal). */
  workdir: string;
  /** Files under `root` (relative, `/`-separated, sorted) that the release holds. */
  files: string[];
  /** The lockfile that pins the dependencies (nearest above `root`), hashed with the files. */
  lockfile?: string;
  /** The `node_modules` folder the service resolves packages from (nearest above `root`), linked. */
  nodeModules?: string;
  /**
   * The nearest `package.json` above `root`, copied to the release's top: it decides how Node loads
   * the code (`"type": "module"` makes `.ts`/`.js` ES modules; without it top-level await fails).
   */
  packageJson?: string;
}

export interface Release extends ReleaseSource {
  /** 16 hex characters of the SHA-256 over files, lockfile and spec. */
  id: string;
}

/** Folders never part of a release. */
const SKIPPED_DIRS = new Set(['node_modules', '.git', '.cache', 'coverage']);

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function nearestAbove(dir: string, name: string): Promise<string | undefined> {
  for (let d = dir; ; d = dirname(d)) {
    if (await exists(join(d, name))) return join(d, name);
    if (dirname(d) === d) return undefined;
  }
}

const inside = (parent: string, child: string): boolean =>
  child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/**
 * The folder a release copies: the stack file's folder when the workdir is inside it (code shared
 * by the stack's services, like `../../lib`, comes along); for a stack file written elsewhere (a
 * test's or a CI job's copy with absolute workdirs), the nearest folder above the workdir that holds
 * a `rampart.yaml` (the stack's home); else the workdir alone.
 */
async function releaseRoot(stack: ResolvedStack, workdir: string): Promise<string> {
  if (inside(stack.dir, workdir)) return stack.dir;
  const home = await nearestAbove(workdir, 'rampart.yaml');
  return home ? dirname(home) : workdir;
}

/** Finds the files of one service's release (reads the disk, copies nothing). */
export async function releaseSource(stack: ResolvedStack, service: ResolvedService): Promise<ReleaseSource> {
  const workdir = service.release?.source ?? service.workdir;
  const root = await releaseRoot(stack, workdir);
  // Other services' folders come along too: services import each other's modules (the fraud
  // stack's db/seed.ts imports services/geo/logic.ts), so leaving them out breaks a release.
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const path = join(dir, e.name);
      if (SKIPPED_DIRS.has(e.name)) continue;
      // A symlink to a folder is not followed (it may point anywhere, or back up the tree).
      if (
        e.isSymbolicLink() &&
        (await stat(path).then(
          (st) => st.isDirectory(),
          () => true,
        ))
      )
        continue;
      if (e.isDirectory()) {
        if (SKIPPED_DIRS.has(e.name) || e.name.startsWith('.')) continue;
        await walk(path);
      } else if (e.isFile() || e.isSymbolicLink()) {
        // The stack file is config, hashed through the resolved spec; a change to another service must not
        // make a release of this one.
        if (path === stack.file || (dir === root && /^rampart(\.[\w-]+)?\.ya?ml$/.test(e.name))) continue;
        files.push(relative(root, path).split(sep).join('/'));
      }
    }
  };
  await walk(root);
  files.sort();
  const lockfile = await nearestAbove(root, 'package-lock.json');
  const nodeModules = await nearestAbove(root, 'node_modules');
  const pkg = files.includes('package.json') ? undefined : await nearestAbove(root, 'package.json');
  return {
    service: service.name,
    namespace: service.namespace,
    root,
    workdir: relative(root, workdir).split(sep).join('/'),
    files,
    ...(lockfile && { lockfile }),
    ...(nodeModules && { nodeModules }),
    ...(pkg && { packageJson: pkg }),
  };
}

/** The part of a resolved service that belongs to its release (where it came from does not). */
export function releaseSpec(service: ResolvedService): unknown {
  const { workdir: _w, source: _s, release: _r, replicas: _n, deploy: _d, ...spec } = service;
  return spec;
}

/** Hashes a release: every file's path and content, the lockfile, and the resolved spec. */
export async function hashRelease(
  source: ReleaseSource,
  service: ResolvedService,
  /** Content hashes by path, shared by the services of one stack (they share files and the lockfile). */
  cache: Map<string, Promise<string>> = new Map(),
): Promise<Release> {
  const contentHash = (path: string): Promise<string> => {
    let hit = cache.get(path);
    if (!hit) {
      hit = lstat(path).then(async (st) =>
        st.isSymbolicLink()
          ? sha256(`link:${path}`)
          : `${st.mode & 0o111 ? 'x' : '-'}${sha256(await readFile(path))}`,
      );
      cache.set(path, hit);
    }
    return hit;
  };
  const h = createHash('sha256');
  const hashes = await Promise.all(source.files.map((file) => contentHash(join(source.root, file))));
  source.files.forEach((file, i) => h.update(`${file}\0${hashes[i]}\n`));
  h.update(`workdir\0${source.workdir}\n`);
  if (source.lockfile) h.update(`lockfile\0${await contentHash(source.lockfile)}\n`);
  if (source.packageJson) h.update(`package.json\0${await contentHash(source.packageJson)}\n`);
  h.update(`spec\0${JSON.stringify(releaseSpec(service))}\n`);
  return { ...source, id: h.digest('hex').slice(0, 16) };
}

export interface ReleaseStoreOptions {
  /** `<state>/releases` */
  dir: string;
  exec: Exec;
}

export const releaseDir = (dir: string, service: string, id: string): string => join(dir, service, id);

const MARKER = '.rampart-release.json';

/**
 * Makes the release's folder unless it exists (the same release twice is a no-op). Files are
 * copied (reflinked where the filesystem can), then made read-only; dependencies are linked.
 * Returns the folder the service's replicas run in.
 */
export async function materializeRelease(release: Release, opts: ReleaseStoreOptions): Promise<string> {
  const final = releaseDir(opts.dir, release.service, release.id);
  const cwd = release.workdir ? join(final, release.workdir) : final;
  if (await exists(join(final, MARKER))) return cwd;
  await mkdir(join(opts.dir, release.service), { recursive: true, mode: 0o755 });
  await chmod(opts.dir, 0o755);
  const tmp = `${final}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    const dirs = new Set<string>([tmp]);
    for (const file of release.files) {
      const to = join(tmp, file);
      for (let d = dirname(to); inside(tmp, d) && !dirs.has(d); d = dirname(d)) dirs.add(d);
      await mkdir(dirname(to), { recursive: true });
      await copyFile(join(release.root, file), to, constants.COPYFILE_FICLONE);
      const mode = (await stat(to)).mode;
      // Read-only for everyone; readable (and executable where it was) by the service user.
      await chmod(to, (mode & 0o111 ? 0o555 : 0o444) & ~0o222);
    }
    await mkdir(join(tmp, release.workdir), { recursive: true });
    dirs.add(join(tmp, release.workdir));
    if (release.packageJson) {
      await copyFile(release.packageJson, join(tmp, 'package.json'));
      await chmod(join(tmp, 'package.json'), 0o444);
    }
    if (release.nodeModules) {
      const deps = await linkDependencies(release, opts);
      await symlink(deps, join(tmp, 'node_modules'));
    }
    await writeFile(
      join(tmp, MARKER),
      JSON.stringify({
        service: release.service,
        id: release.id,
        root: release.root,
        files: release.files.length,
      }),
      { mode: 0o444 },
    );
    // Deepest first: a folder made read-only before its children would refuse them.
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) await chmod(d, 0o555);
    await rename(tmp, final).catch(async (error: NodeJS.ErrnoException) => {
      // Another deploy made the same release at the same time: theirs is as good.
      if (error.code === 'ENOTEMPTY' || error.code === 'EEXIST')
        await rm(tmp, { recursive: true, force: true });
      else throw error;
    });
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  return cwd;
}

/**
 * The dependencies, hard-linked once per lockfile (`cp -al`, 17k files in ~1 s here): the same
 * inodes as the working copy's, which npm replaces rather than rewrites (so a later `npm ci` does
 * not change a release), and never chmod-ed (that would change the working copy's files too).
 */
async function linkDependencies(release: Release, opts: ReleaseStoreOptions): Promise<string> {
  const nodeModules = release.nodeModules!;
  const lock = release.lockfile ? sha256(await readFile(release.lockfile)) : 'unlocked';
  const key = sha256(`${nodeModules}\0${lock}`).slice(0, 16);
  const base = join(opts.dir, '_deps', key);
  const target = join(base, 'node_modules');
  if (await exists(join(base, MARKER))) return target;
  await mkdir(join(opts.dir, '_deps'), { recursive: true, mode: 0o755 });
  const tmp = `${base}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { mode: 0o755 });
  try {
    await opts.exec(['cp', '-al', nodeModules, join(tmp, 'node_modules')]);
    await writeFile(join(tmp, MARKER), JSON.stringify({ nodeModules, lockfile: release.lockfile ?? null }));
    await rename(tmp, base).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOTEMPTY' || error.code === 'EEXIST')
        await rm(tmp, { recursive: true, force: true });
      else throw error;
    });
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  return target;
}

/** Hashes every service's release without writing anything (for plans and dry runs). */
export async function computeReleases(stack: ResolvedStack): Promise<Map<string, Release>> {
  const out = new Map<string, Release>();
  const cache = new Map<string, Promise<string>>();
  for (const s of stack.services) {
    out.set(`${s.namespace}/${s.name}`, await hashRelease(await releaseSource(stack, s), s, cache));
  }
  return out;
}

/**
 * Makes every service's release and returns the stack with each service running from its release
 * (workdir inside it, `release` recording where it came from).
 */
export async function prepareReleases(
  stack: ResolvedStack,
  opts: ReleaseStoreOptions,
  only?: (service: ResolvedService) => boolean,
): Promise<ResolvedStack> {
  const releases = await computeReleases(stack);
  const services: ResolvedService[] = [];
  for (const s of stack.services) {
    if (only && !only(s)) {
      services.push(s);
      continue;
    }
    const release = releases.get(`${s.namespace}/${s.name}`)!;
    const cwd = await materializeRelease(release, opts);
    services.push({
      ...s,
      workdir: cwd,
      release: {
        id: release.id,
        source: s.release?.source ?? s.workdir,
        dir: releaseDir(opts.dir, s.name, release.id),
      },
    });
  }
  return { ...stack, services };
}

/** Wraps a stack loader so that every stack it returns runs from releases (the composition root uses it). */
export function withReleases<O>(
  load: (opts: O) => Promise<ResolvedStack>,
  opts: ReleaseStoreOptions,
): (o: O) => Promise<ResolvedStack> {
  return async (o) => prepareReleases(await load(o), opts);
}
