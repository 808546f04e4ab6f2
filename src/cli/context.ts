import type { Command } from 'commander';
import { resolve } from 'node:path';
import { DEFAULT_STATE_DIR } from '../config/index.ts';
import { DEFAULT_ENVIRONMENT } from '../stack/index.ts';

/** Global options every command shares, resolved once from argv and the environment. */
export interface CliContext {
  stateDir: string;
  environment: string;
  json: boolean;
}

export function contextOf(cmd: Command): CliContext {
  const opts = cmd.optsWithGlobals<{ stateDir?: string; env?: string; json?: boolean }>();
  return {
    stateDir: resolve(opts.stateDir ?? process.env.RAMPART_HOME ?? DEFAULT_STATE_DIR),
    environment: opts.env ?? process.env.RAMPART_ENV ?? DEFAULT_ENVIRONMENT,
    json: opts.json ?? false,
  };
}

export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
