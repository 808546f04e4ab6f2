/* global require, process, __dirname, setInterval, setTimeout, module */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';

/**
 * Writes the modules this process loaded (path, package name and version) to `file`, every 30 s and
 * at exit. CommonJS modules come from the require cache; ES modules from a resolve hook on the
 * loader thread that appends each file URL to `<file>.esm`.
 */
function recordModules(file) {
  const fs = require('node:fs');
  const path = require('node:path');
  const Module = require('node:module');
  const { fileURLToPath, pathToFileURL } = require('node:url');
  // ES modules: the loader-thread hook appends each resolved file URL to this side file.
  const esmFile = `${file}.esm`;
  try {
    fs.writeFileSync(esmFile, '');
    if (typeof Module.register === 'function') {
      Module.register(pathToFileURL(path.join(__dirname, 'modules-hook.mjs')), { data: { file: esmFile } });
    }
  } catch {
    // No ES module list then; CommonJS modules are still recorded.
  }
  const rampartRoot = path.resolve(__dirname, '..', '..', '..');
  const packageOf = new Map(); // directory -> { name, version, dir } | null
  const findPackage = (dir) => {
    if (packageOf.has(dir)) return packageOf.get(dir);
    let found = null;
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name) found = { name: pkg.name, version: pkg.version || null, dir };
    } catch {
      // No (readable) package.json here.
    }
    if (!found) {
      const parent = path.dirname(dir);
      found = parent === dir ? null : findPackage(parent);
    }
    packageOf.set(dir, found);
    return found;
  };
  const write = () => {
    try {
      const paths = new Set(Object.keys(require.cache));
      let esm = [];
      try {
        esm = fs.readFileSync(esmFile, 'utf8').split('\n').filter(Boolean);
      } catch {
        // Not written (yet).
      }
      for (const url of esm) {
        try {
          paths.add(fileURLToPath(url));
        } catch {
          // Not a file URL.
        }
      }
      const modules = [];
      const packages = new Map();
      for (const p of [...paths].sort()) {
        if (!path.isAbsolute(p)) continue;
        const pkg = findPackage(path.dirname(p));
        const rampart = p.startsWith(rampartRoot + path.sep);
        modules.push({ path: p, package: pkg ? pkg.name : null, version: pkg ? pkg.version : null, rampart });
        if (pkg) packages.set(`${pkg.dir}`, { name: pkg.name, version: pkg.version, path: pkg.dir, rampart });
      }
      const doc = {
        pid: process.pid,
        service: process.env.RAMPART_SERVICE || null,
        replica: process.env.RAMPART_REPLICA || null,
        node: process.version,
        writtenAt: new Date().toISOString(),
        packages: [...packages.values()],
        modules,
      };
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(doc));
      fs.renameSync(tmp, file); // readers never see half a file
    } catch {
      // The directory may be gone (replica being removed): nothing to record into.
    }
  };
  const timer = setInterval(write, 30_000);
  timer.unref();
  setTimeout(write, 2_000).unref();
  process.on('exit', write);
  return write;
}

module.exports = { recordModules };
