/* global require, process, setInterval */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/**
 * Rampart's modules preload: records which npm package folders this process actually loads, so a
 * vulnerability finding can say whether the vulnerable code runs. Loaded with
 * `NODE_OPTIONS=--require <this file>` next to the tracing preload; does nothing unless
 * RAMPART_MODULES_FILE names the record file (`{pid}` in it is replaced by the process id).
 *
 * CommonJS loads are seen through Module.prototype.load (every file Node compiles, also those required
 * by ESM through createRequire). ESM imports need `--import <modules-esm.mjs>` as well: on Node 20,
 * module.register() called from a --require preload ends the process with exit code 1 before the main
 * module runs, so the hook lives in its own file.
 *
 * The record (JSON, replaced atomically: write a temp file, rename) is
 * { pid, cwd, startedAt, updatedAt, final, packages: [{ name, version, dir }] }, written every
 * RAMPART_MODULES_INTERVAL_MS (default 2000) when something new loaded, and once more at exit.
 */
const target = process.env.RAMPART_MODULES_FILE;
if (target && !globalThis.__rampartModules) {
  globalThis.__rampartModules = true;
  const Module = require('node:module');
  const fs = require('node:fs');
  const path = require('node:path');

  const file = target.replace('{pid}', String(process.pid));
  const startedAt = Date.now();
  /** folder -> { name, version, dir } */
  const packages = new Map();
  const seenDirs = new Set();
  let dirty = true;
  const marker = `${path.sep}node_modules${path.sep}`;

  const note = (filename) => {
    if (typeof filename !== 'string') return;
    const i = filename.lastIndexOf(marker);
    if (i < 0) return;
    const rest = filename.slice(i + marker.length).split(path.sep);
    if (rest.length < 2) return;
    const parts = rest[0].startsWith('@') ? rest.slice(0, 2) : rest.slice(0, 1);
    const dir = filename.slice(0, i + marker.length) + parts.join(path.sep);
    if (seenDirs.has(dir)) return;
    seenDirs.add(dir);
    let name = parts.join('/');
    let version = '';
    try {
      // The folder an alias installs under (node_modules/lodash-old) holds the real package.json.
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (typeof pkg.name === 'string') name = pkg.name;
      if (typeof pkg.version === 'string') version = pkg.version;
    } catch {
      // No readable package.json: still record the folder.
    }
    packages.set(dir, { name, version, dir });
    dirty = true;
  };

  const write = (final) => {
    if (!dirty && !final) return;
    dirty = false;
    const record = {
      pid: process.pid,
      cwd: process.cwd(),
      startedAt,
      updatedAt: Date.now(),
      final,
      packages: [...packages.values()].sort((a, b) => (a.dir < b.dir ? -1 : 1)),
    };
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(record));
      fs.renameSync(tmp, file);
    } catch {
      // A record that cannot be written must never break the service.
    }
  };

  for (const f of Object.keys(require.cache)) note(f);
  const originalLoad = Module.prototype.load;
  Module.prototype.load = function load(filename) {
    note(filename);
    return originalLoad.apply(this, arguments);
  };

  // modules-esm.mjs (loaded with --import) reports ESM imports here.
  globalThis.__rampartModulesNote = note;

  const interval = Number(process.env.RAMPART_MODULES_INTERVAL_MS) || 2000;
  const timer = setInterval(() => write(false), interval);
  timer.unref();
  process.on('exit', () => write(true));
}
