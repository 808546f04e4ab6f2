import { RampartError } from '../platform/errors.ts';

/** Where a value sits in the stack file: keys and list indexes, e.g. `['services', 'web', 'ports', 1]`. */
export type FieldPath = readonly (string | number)[];

/** One thing wrong with a stack file, with its position, so an editor can jump to it. */
export interface StackProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted path with `[i]` for list items, e.g. `services.web.ports[1].port`. */
  field: string;
  message: string;
  fix: string;
}

export interface Position {
  line: number;
  column: number;
}

/**
 * `key` points at the mapping key (unknown keys, bad names); `value` at the value, falling back to the
 * key when the value is empty or absent.
 */
export type Anchor = 'key' | 'value';
export type Locate = (path: FieldPath, anchor: Anchor) => Position;

export interface ProblemInput {
  path: FieldPath;
  message: string;
  fix: string;
  anchor?: Anchor;
}

/** Collects every problem of one stack file so the user sees them all at once, not one per run. */
export class ProblemList {
  readonly #file: string;
  readonly #locate: Locate;
  readonly #problems: StackProblem[] = [];

  constructor(opts: { file: string; locate: Locate }) {
    this.#file = opts.file;
    this.#locate = opts.locate;
  }

  add(problem: ProblemInput): void {
    const { line, column } = this.#locate(problem.path, problem.anchor ?? 'value');
    this.#problems.push({
      file: this.#file,
      line,
      column,
      field: formatPath(problem.path),
      message: problem.message,
      fix: problem.fix,
    });
  }

  /** Adds a problem that belongs to no position in the file (e.g. the environment passed in). */
  addAt(position: Position, field: string, message: string, fix: string): void {
    this.#problems.push({ file: this.#file, ...position, field, message, fix });
  }

  /** Throws one RAMPART_E_STACK_INVALID carrying every problem, in file order. */
  throwIfAny(): void {
    if (this.#problems.length === 0) return;
    const problems = [...this.#problems].sort((a, b) => a.line - b.line || a.column - b.column);
    const first = problems[0]!;
    throw new RampartError('RAMPART_E_STACK_INVALID', problems.map(formatProblem).join('\n'), {
      file: first.file,
      line: first.line,
      column: first.column,
      field: first.field,
      fix: first.fix,
      problems,
    });
  }
}

export function formatProblem(p: StackProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.field}: ${p.message}. Fix: ${p.fix}`;
}

export function formatPath(path: FieldPath): string {
  if (path.length === 0) return '(top level)';
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

/**
 * Edit distance counting a swap of two neighbours as one edit (optimal string alignment), since
 * `wbe` for `web` is the most common typo. Stack files are small, so the quadratic table is fine.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate a typo most likely meant, if one is close enough to suggest (case-insensitive). */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const tolerance = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  return bestDistance <= tolerance ? best : undefined;
}

/** ` (did you mean 'x'?)` or nothing. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const best = closest(word, candidates);
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

/** Describes a YAML value the way a user wrote it, for "expected X, got Y". */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && !(value instanceof Uint8Array)) return 'a mapping';
  return `a ${typeof value}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/** `a, b or c` */
export function listWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}
