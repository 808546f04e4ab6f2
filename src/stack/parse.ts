import { LineCounter, parseDocument } from 'yaml';
import { RampartError } from '../platform/errors.ts';
import type { ResolvedStack } from './types.ts';
import { checkReferences } from './checks.ts';
import { yamlLocator } from './positions.ts';
import { ProblemList } from './problems.ts';
import { resolveStack } from './resolve.ts';
import { validateStack } from './validate.ts';

export interface ParseStackOptions {
  /** The stack file's text. */
  text: string;
  /** Absolute path of the stack file: used in messages and to resolve relative paths (never read). */
  file: string;
  /** Environment whose overlay applies and whose name is the default namespace. */
  environment: string;
}

/**
 * Parses, validates and resolves a stack file for one environment. Pure: it reads no files and no
 * environment variables. Throws RAMPART_E_STACK_PARSE for YAML syntax errors and one
 * RAMPART_E_STACK_INVALID listing every other problem with its line and column.
 */
export function parseStack(opts: ParseStackOptions): ResolvedStack {
  const { text, file, environment } = opts;
  const lineCounter = new LineCounter();
  // `merge` lets users share blocks with `<<: *defaults`, as in compose files.
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  const syntaxError = doc.errors[0];
  if (syntaxError) {
    const { line, col } = lineCounter.linePos(syntaxError.pos[0]);
    const fix =
      syntaxError.code === 'MULTIPLE_DOCS' ? 'keep one YAML document: remove the --- separator' : undefined;
    throw new RampartError('RAMPART_E_STACK_PARSE', `${file}:${line}:${col}: ${syntaxError.message}`, {
      file,
      line,
      column: col,
      yamlCode: syntaxError.code,
      ...(fix && { fix }),
    });
  }

  const locate = yamlLocator(doc, lineCounter);
  const problems = new ProblemList({ file, locate });
  const input = validateStack(toJS(doc, file), problems);
  checkReferences(input, environment, problems);
  problems.throwIfAny();

  const stack = resolveStack(input, {
    file,
    environment,
    lineOf: (section, name) => locate([section, name], 'key').line,
  });
  return deepFreeze(stack);
}

function toJS(doc: ReturnType<typeof parseDocument>, file: string): unknown {
  try {
    return doc.toJS();
  } catch (error) {
    // Alias bombs ("billion laughs") and similar are refused by yaml's maxAliasCount.
    throw new RampartError(
      'RAMPART_E_STACK_PARSE',
      `${file}: ${(error as Error).message}`,
      { file },
      { cause: error },
    );
  }
}

/** Freezes the whole tree, so no capability can change the stack another one reads. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
