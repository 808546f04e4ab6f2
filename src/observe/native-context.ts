/**
 * The tracing preload's native context module as a host requirement (`rampart doctor`): built by
 * `npm install` when a C++ compiler is there (scripts/build-native.mjs), without it the preload
 * falls back to AsyncLocalStorage, which costs traced replicas throughput (decision 0013).
 */
import { fileURLToPath } from 'node:url';
import type { Exec } from '../platform/exec.ts';
import type { Requirement } from '../runtime/index.ts';

const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build-native.mjs', import.meta.url));
const NAME = 'tracing context module (native)';

export async function nativeContextRequirement(exec: Exec): Promise<Requirement> {
  const r = await exec([process.execPath, BUILD_SCRIPT, '--check'], { allowFailure: true });
  const compiler = await exec(['sh', '-c', 'command -v g++'], { allowFailure: true });
  return {
    name: NAME,
    ok: r.code === 0,
    detail:
      r.code === 0 ? r.stdout.trim() : 'not built: traced replicas use AsyncLocalStorage (slower under load)',
    required: false,
    ...(compiler.code !== 0 && { package: 'g++' }),
    fix: `node ${BUILD_SCRIPT}${compiler.code !== 0 ? ' (after apt-get install g++)' : ''}`,
  };
}

/** Builds the module (after `--fix` installed g++): the requirement as it is afterwards. */
export async function fixNativeContext(exec: Exec, log: (line: string) => void): Promise<Requirement> {
  log('building the tracing context module (scripts/build-native.mjs)');
  await exec([process.execPath, BUILD_SCRIPT], { allowFailure: true });
  return nativeContextRequirement(exec);
}
