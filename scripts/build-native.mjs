#!/usr/bin/env node
/**
 * Builds Rampart's native context module (src/observe/preload/native/context.cc) for the Node that
 * runs this script: one g++ call against Node's own headers, no node-gyp and no download. The
 * tracing preload uses it to carry the active span without V8 promise hooks (decision 0013); when
 * it is missing, the preload falls back to AsyncLocalStorage and works, only slower.
 *
 *   node scripts/build-native.mjs            build (exit 1 with what to install when it cannot)
 *   node scripts/build-native.mjs --if-possible   the same, but never fail (npm's postinstall)
 *   node scripts/build-native.mjs --check    exit 0 when a build loads, 1 otherwise (doctor)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'src/observe/preload/native');
const { nativeContextPath, loadNativeContext } = require(path.join(nativeDir, 'index.cjs'));
const source = path.join(nativeDir, 'context.cc');
const target = nativeContextPath();

/** Node's headers: beside the running node (NodeSource, official tarballs), or Debian's libnode-dev. */
function includeDir() {
  const candidates = [
    process.env.RAMPART_NODE_INCLUDE,
    path.resolve(path.dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  return candidates.find(
    (d) => existsSync(path.join(d, 'node.h')) && existsSync(path.join(d, 'v8-context.h')),
  );
}

function onPath(bin) {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function build() {
  const compiler = process.env.CXX || 'g++';
  if (!onPath(compiler))
    return `no C++ compiler (${compiler}): run \`apt-get install g++\` (or \`rampart doctor --fix\` as root)`;
  const include = includeDir();
  if (!include)
    return `no Node headers (node.h, v8-context.h) beside ${process.execPath}: install the headers of Node ${process.versions.node} and set RAMPART_NODE_INCLUDE to their folder`;
  mkdirSync(path.dirname(target), { recursive: true });
  // Built beside the target and renamed: a preload starting meanwhile never loads half a file.
  const partial = `${target}.${process.pid}.tmp`;
  try {
    execFileSync(
      compiler,
      [
        '-shared',
        '-fPIC',
        '-O2',
        '-std=c++17',
        '-Wall',
        `-I${include}`,
        '-DNODE_GYP_MODULE_NAME=rampart_context',
        '-o',
        partial,
        source,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    renameSync(partial, target);
  } catch (e) {
    rmSync(partial, { force: true });
    return `${compiler} failed: ${String(e.stderr || e.message)
      .trim()
      .split('\n')
      .slice(0, 6)
      .join('\n')}`;
  }
  return loadNativeContext()
    ? undefined
    : `${target} was built but does not load in Node ${process.versions.node}`;
}

const args = new Set(process.argv.slice(2));
if (args.has('--check')) {
  const ok = loadNativeContext() !== undefined;
  console.log(ok ? target : `not built: ${target}`);
  process.exit(ok ? 0 : 1);
}
const problem = build();
if (problem === undefined) {
  console.log(`rampart: native context module built (${path.relative(root, target)})`);
} else {
  console.error(`rampart: native context module not built: ${problem}`);
  console.error('rampart: tracing still works without it, with AsyncLocalStorage (slower under load)');
  if (!args.has('--if-possible')) process.exit(1);
}
