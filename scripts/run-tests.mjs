#!/usr/bin/env node
// Runs node's test runner over an explicit file list: on Node 20, `node --test` does not expand
// globs and, given nothing, runs nothing and exits 0. An empty list is an error here.
//   node scripts/run-tests.mjs [unit|privileged|all]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const kind = process.argv[2] ?? 'all';
function walk(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}
const unit = [...walk('src'), ...walk('test/integration'), ...walk('examples'), ...walk('bench')].sort();
const privileged = walk('test/privileged').sort();
let files = kind === 'unit' ? unit : kind === 'privileged' ? privileged : [...unit, ...privileged];
if (files.length === 0) {
  console.error(`run-tests: no test files for '${kind}'`);
  process.exit(1);
}
if (kind !== 'unit' && process.getuid?.() !== 0) {
  console.error(
    'run-tests: privileged tests need root (real namespaces, nftables, PostgreSQL); run as root or use `npm run test:unit`',
  );
  process.exit(1);
}
// Privileged tests need the host's tools; on a fresh Debian, install what is missing (we are root here).
const HOST_TOOLS = [
  ['nft', 'nftables'],
  ['conntrack', 'conntrack'],
  ['ip', 'iproute2'],
  ['setpriv', 'util-linux'],
  ['sysctl', 'procps'],
  ['curl', 'curl'],
  ['chromium', 'chromium'],
  // Builds the tracing preload's native context module (scripts/build-native.mjs).
  ['g++', 'g++'],
];
if (kind !== 'unit') {
  const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  const missing = HOST_TOOLS.filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
  if (!existsSync('/usr/lib/postgresql/15/bin/postgres')) missing.push('postgresql-15');
  if (missing.length > 0) {
    console.error(`run-tests: installing ${missing.join(' ')} (apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const install = spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
    if (update.status !== 0 || install.status !== 0) {
      console.error(`run-tests: could not install them; run: apt-get install ${missing.join(' ')}`);
      process.exit(1);
    }
  }
}
// The tracing preload's native context module (npm install builds it when it can): the tests of
// both context managers need it.
{
  const built = spawnSync(process.execPath, ['scripts/build-native.mjs', '--check'], { stdio: 'ignore' });
  if (built.status !== 0) {
    const build = spawnSync(process.execPath, ['scripts/build-native.mjs'], { stdio: 'inherit' });
    if (build.status !== 0) process.exit(1);
  }
}
// Unit tests run in parallel; privileged ones one file at a time (they share the host's kernel).
function run(list, concurrency) {
  if (list.length === 0) return { pass: 0, fail: 0, cancelled: 0, status: 0 };
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=tap', ...list],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 1 << 30 },
  );
  const out = r.stdout.toString();
  process.stdout.write(out);
  // The run's own totals are its last summary lines (a test may print a child run's TAP before).
  const total = (name) => Number([...out.matchAll(new RegExp(`^# ${name} (\\d+)$`, 'gm'))].at(-1)?.[1] ?? 0);
  const pass = total('pass');
  const fail = total('fail');
  // Tests of a suite whose hook failed are cancelled, not failed: they count against the run too.
  const cancelled = total('cancelled');
  return { pass, fail, cancelled, status: r.status ?? 1 };
}
const unitFiles = files.filter((f) => !f.startsWith('test/privileged'));
const privilegedFiles = files.filter((f) => f.startsWith('test/privileged'));
const a = run(unitFiles, 2);
const b = run(privilegedFiles, 1);
const pass = a.pass + b.pass;
const fail = a.fail + b.fail;
const cancelled = a.cancelled + b.cancelled;
console.log(`\n${pass} passed, ${fail} failed${cancelled > 0 ? `, ${cancelled} cancelled` : ''}`);
process.exit(a.status !== 0 || b.status !== 0 || fail > 0 || cancelled > 0 || pass === 0 ? 1 : 0);
