import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { RampartError } from '../platform/errors.ts';
import type { ResolvedStack } from './types.ts';
import { parseStack } from './parse.ts';

export interface LoadStackOptions {
  /** Path of the stack file; a relative path is resolved against the current directory. */
  file: string;
  environment: string;
  /** The filesystem slice this needs. @default node:fs/promises readFile */
  readText?: (file: string) => Promise<string>;
}

/** Reads a stack file and resolves it for one environment (see parseStack). */
export async function loadStack(opts: LoadStackOptions): Promise<ResolvedStack> {
  const file = resolve(opts.file);
  const readText = opts.readText ?? ((f: string) => readFile(f, 'utf8'));
  let text: string;
  try {
    text = await readText(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new RampartError(
        'RAMPART_E_STACK_NOT_FOUND',
        `stack file not found: ${file}`,
        { file },
        { cause: error },
      );
    }
    if (code === 'EISDIR') {
      throw new RampartError('RAMPART_E_STACK_NOT_FOUND', `stack file is a directory: ${file}`, {
        file,
        fix: `pass the file itself, e.g. ${resolve(file, 'rampart.yaml')}`,
      });
    }
    throw error;
  }
  return parseStack({ text, file, environment: opts.environment });
}
