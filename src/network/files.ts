import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';

/** The slice of the filesystem the network appliers touch; tests pass an in-memory one. */
export interface NetworkFs {
  readFile(path: string): Promise<string>;
  /** Writes in place (same inode): see `writeNetnsFiles`. */
  writeFile(path: string, data: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  /** Entry names of a directory, or [] when it does not exist. */
  readdir(path: string): Promise<string[]>;
  /** Recursive, and no error when it does not exist. */
  rm(path: string): Promise<void>;
}

export const realNetworkFs: NetworkFs = {
  readFile: (path) => readFile(path, 'utf8'),
  writeFile: (path, data) => writeFile(path, data, 'utf8'),
  mkdir: async (path) => {
    await mkdir(path, { recursive: true });
  },
  readdir: async (path) => {
    try {
      return await readdir(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  },
  rm: (path) => rm(path, { recursive: true, force: true }),
};

/** An in-memory NetworkFs for unit tests: `files` maps path to content. */
export function memoryNetworkFs(
  initial: Record<string, string> = {},
): NetworkFs & { files: Map<string, string> } {
  const files = new Map(Object.entries(initial));
  const dirs = new Set<string>();
  return {
    files,
    readFile: async (path) => {
      const data = files.get(path);
      if (data === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return data;
    },
    writeFile: async (path, data) => {
      files.set(path, data);
    },
    mkdir: async (path) => {
      dirs.add(path);
    },
    readdir: async (path) => {
      const prefix = `${path}/`;
      const names = [...files.keys(), ...dirs]
        .filter((p) => p.startsWith(prefix))
        .map((p) => p.slice(prefix.length).split('/')[0]!);
      return [...new Set(names)].sort();
    },
    rm: async (path) => {
      for (const p of [...files.keys()]) if (p === path || p.startsWith(`${path}/`)) files.delete(p);
      for (const d of [...dirs]) if (d === path || d.startsWith(`${path}/`)) dirs.delete(d);
    },
  };
}

/** Where `ip netns exec` looks for per-namespace overrides of /etc files (ip-netns(8)). */
export const ETC_NETNS_DIR = '/etc/netns';

/**
 * Writes `/etc/netns/<netns>/hosts` and `resolv.conf`. `ip netns exec` bind-mounts them over /etc
 * when a process starts, so a later update must rewrite the same inode (writeFile truncates in
 * place); a rename would leave running processes on the old file.
 */
export async function writeNetnsFiles(
  fs: NetworkFs,
  netns: string,
  files: { hosts: string; resolvConf: string },
  etcNetnsDir: string = ETC_NETNS_DIR,
): Promise<void> {
  const dir = `${etcNetnsDir}/${netns}`;
  await fs.mkdir(dir);
  await fs.writeFile(`${dir}/hosts`, files.hosts);
  await fs.writeFile(`${dir}/resolv.conf`, files.resolvConf);
}
