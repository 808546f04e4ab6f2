/**
 * The log query language, e.g. `service:gateway level>=warn "timed out" -healthz http.status:5*`:
 *
 *   word            full-text: a word of the message (`word*` for a prefix)
 *   "a phrase"      full-text: these words in this order
 *   field:value     a field equals a value (`*` is a wildcard; `field:"a b"` when it has spaces)
 *   field>n …       >, >=, <, <= on numbers, and on `level` (trace < debug < info < warn < error < fatal)
 *   -term, NOT term excludes
 *
 * Terms are ANDed. Fields: service, env|environment, ns|namespace, replica, stream, level,
 * trace|trace.id|traceId, span|span.id|spanId, message|msg (full text); any other name is a path
 * into the line's attributes (`http.status` matches `{"http":{"status":…}}` and `{"http.status":…}`).
 * Parsing and compiling are pure; the SQL is for the schema of logs.ts.
 */
import { RampartError } from '../platform/errors.ts';
import { keepFilter } from './log-text.ts';
import type { LogLevel } from './types.ts';

export type FieldOp = ':' | '>' | '>=' | '<' | '<=';

export type QueryTerm =
  | { type: 'text'; value: string; phrase: boolean; prefix: boolean; negate: boolean; position: number }
  | { type: 'field'; field: string; op: FieldOp; value: string; negate: boolean; position: number };

const SYNTAX =
  'Terms: word, "phrase", field:value, field>=n, -term (excluded); e.g. service:gateway level:error "timeout" -healthz';

function queryError(input: string, index: number, what: string): RampartError {
  const position = index + 1;
  return new RampartError(
    'RAMPART_E_BAD_REQUEST',
    `bad log query: ${what} at position ${position}\n  ${input}\n  ${' '.repeat(index)}^`,
    {
      field: 'query',
      column: position,
      fix: SYNTAX,
    },
  );
}

const FIELD = /[A-Za-z_@][\w.@-]*/y;
const OPERATOR = /(>=|<=|:|>|<)/y;

/** Parses a query into terms; a bad query throws RAMPART_E_BAD_REQUEST naming the position. */
export function parseLogQuery(input: string): QueryTerm[] {
  const terms: QueryTerm[] = [];
  let i = 0;
  const n = input.length;
  const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

  const readQuoted = (): string => {
    const open = i;
    i++; // the opening quote
    let out = '';
    while (i < n) {
      const c = input[i] as string;
      if (c === '\\' && i + 1 < n) {
        out += input[i + 1];
        i += 2;
      } else if (c === '"') {
        i++;
        if (i < n && !isSpace(input[i]))
          throw queryError(input, i, 'expected a space after the closing quote');
        return out;
      } else {
        out += c;
        i++;
      }
    }
    throw queryError(input, open, 'unterminated quote');
  };

  const readBare = (): string => {
    const start = i;
    while (i < n && !isSpace(input[i])) {
      if (input[i] === '"') throw queryError(input, i, 'unexpected quote inside a word');
      i++;
    }
    return input.slice(start, i);
  };

  let negateNext = false;
  let negatePosition = 0;
  while (i < n) {
    while (i < n && isSpace(input[i])) i++;
    if (i >= n) break;
    const position = i;
    let negate = negateNext;
    negateNext = false;
    if (input[i] === '-' && i + 1 < n && !isSpace(input[i + 1])) {
      negate = !negate;
      i++;
    }
    if (input[i] === '"') {
      const value = readQuoted();
      terms.push({ type: 'text', value, phrase: true, prefix: false, negate, position });
      continue;
    }
    FIELD.lastIndex = i;
    const field = FIELD.exec(input);
    if (field) {
      OPERATOR.lastIndex = i + field[0].length;
      const op = OPERATOR.exec(input);
      if (op) {
        i = OPERATOR.lastIndex;
        if (i >= n || isSpace(input[i]))
          throw queryError(input, i, `missing value after "${field[0]}${op[0]}"`);
        const value = input[i] === '"' ? readQuoted() : readBare();
        terms.push({ type: 'field', field: field[0], op: op[0] as FieldOp, value, negate, position });
        continue;
      }
    }
    const word = readBare();
    if (word === 'NOT' && !negate) {
      negateNext = true;
      negatePosition = position;
      continue;
    }
    if (word === 'AND') continue;
    if (word === 'OR') throw queryError(input, position, 'OR is not supported (all terms must match)');
    const prefix = word.length > 1 && word.endsWith('*');
    terms.push({
      type: 'text',
      value: prefix ? word.slice(0, -1) : word,
      phrase: false,
      prefix,
      negate,
      position,
    });
  }
  if (negateNext) throw queryError(input, negatePosition, 'NOT must be followed by a term');
  return terms;
}

export const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

const COLUMNS: Record<string, string> = {
  service: 'service',
  env: 'environment',
  environment: 'environment',
  ns: 'namespace',
  namespace: 'namespace',
  replica: 'replica',
  stream: 'stream',
  level: 'level',
  trace: 'trace_id',
  'trace.id': 'trace_id',
  trace_id: 'trace_id',
  traceId: 'trace_id',
  span: 'span_id',
  'span.id': 'span_id',
  span_id: 'span_id',
  spanId: 'span_id',
};
const TEXT_FIELDS = new Set(['message', 'msg']);
const TRACE_ID = /^[0-9a-fA-F]{32}$/;

/** The indexed key of a trace id in the log store: its first 52 bits, an exact double. */
export function traceKey(traceId: string): number {
  return parseInt(traceId.slice(0, 13), 16);
}
const NUMBER = /^-?\d+(\.\d+)?$/;

export type LogQueryPlan = 'fts' | 'scan';

export interface CompileOptions {
  environment?: string;
  since?: number;
  until?: number;
  /** Id bounds known to contain every row of the time range (see LogStore). */
  minId?: number;
  maxId?: number;
  /** Only rows after this id (live tail). */
  afterId?: number;
  /** @default 100 */
  limit?: number;
  /**
   * `fts` (the default when the query has words to find) reads the full-text index newest first;
   * `scan` reads the table (or a field index) newest first and checks the words in JS, which is
   * far cheaper when the fields leave few candidates.
   */
  plan?: LogQueryPlan;
}

export interface CompiledLogQuery {
  sql: string;
  params: unknown[];
  plan: LogQueryPlan;
  /**
   * Words the SQL leaves to JS (excluded words, and every word in a `scan` plan): read rows in
   * order and keep those that pass until `limit` are kept. Null: the SQL has its LIMIT.
   */
  keep: ((message: string) => boolean) | null;
}

type TextTerm = Extract<QueryTerm, { type: 'text' }>;

const ftsString = (t: Extract<QueryTerm, { type: 'text' }>) =>
  `"${t.value.replace(/"/g, '""')}"${t.prefix ? ' *' : ''}`;
const likePattern = (v: string) => v.replace(/[\\%_]/g, '\\$&').replace(/\*/g, '%');
const jsonPath = (segments: string[]) => `$.${segments.map((s) => `"${s.replace(/"/g, '\\"')}"`).join('.')}`;

function fieldCondition(input: string, t: Extract<QueryTerm, { type: 'field' }>, params: unknown[]): string {
  const column = COLUMNS[t.field];
  if (column === 'level') {
    const level = LEVELS.indexOf(t.value.toLowerCase() as LogLevel);
    if (level < 0)
      throw queryError(input, t.position, `unknown level "${t.value}" (use ${LEVELS.join(', ')})`);
    const ok = LEVELS.filter((_, i) =>
      t.op === ':'
        ? i === level
        : t.op === '>'
          ? i > level
          : t.op === '>='
            ? i >= level
            : t.op === '<'
              ? i < level
              : i <= level,
    );
    params.push(...ok);
    return `l.level IN (${ok.map(() => '?').join(', ')})`;
  }
  let expr: string;
  const paths: string[] = [];
  if (column) expr = `l.${column}`;
  else {
    // Both spellings of a dotted name: flat (ECS over JSON) and nested objects.
    const segments = t.field.split('.');
    expr =
      segments.length > 1
        ? `coalesce(json_extract(l.attributes, ?), json_extract(l.attributes, ?))`
        : `json_extract(l.attributes, ?)`;
    paths.push(jsonPath([t.field]));
    if (segments.length > 1) paths.push(jsonPath(segments));
  }
  if (t.op !== ':') {
    if (!NUMBER.test(t.value)) throw queryError(input, t.position, `"${t.field}${t.op}" needs a number`);
    params.push(...paths, Number(t.value));
    return `CAST(${expr} AS REAL) ${t.op} ?`;
  }
  if (t.value.includes('*')) {
    params.push(...paths, likePattern(t.value));
    return `CAST(${expr} AS TEXT) LIKE ? ESCAPE '\\'`;
  }
  if (!column) {
    if (t.value === 'true' || t.value === 'false') {
      params.push(...paths, t.value === 'true' ? 1 : 0, t.value);
      return `${expr} IN (?, ?)`;
    }
    // json_extract parses the whole JSON of every row it sees; a substring test first skips most
    // rows (the value, as JSON writes it, must appear in the text).
    params.push(JSON.stringify(t.value).slice(1, -1), ...paths);
    if (NUMBER.test(t.value)) {
      // A JSON number and a string of digits are both what the user means.
      params.push(Number(t.value), t.value);
      return `instr(l.attributes, ?) > 0 AND ${expr} IN (?, ?)`;
    }
    params.push(t.value);
    return `instr(l.attributes, ?) > 0 AND ${expr} = ?`;
  }
  if (column === 'trace_id' && TRACE_ID.test(t.value)) {
    const id = t.value.toLowerCase();
    params.push(traceKey(id), id);
    return 'l.trace_key = ? AND l.trace_id = ?';
  }
  params.push(column === 'trace_id' || column === 'span_id' ? t.value.toLowerCase() : t.value);
  return `${expr} = ?`;
}

function splitTerms(
  input: string,
  terms: readonly QueryTerm[],
): { positives: TextTerm[]; negatives: TextTerm[]; fields: Extract<QueryTerm, { type: 'field' }>[] } {
  const positives: TextTerm[] = [];
  const negatives: TextTerm[] = [];
  const fields: Extract<QueryTerm, { type: 'field' }>[] = [];
  for (const t of terms) {
    if (t.type === 'field' && TEXT_FIELDS.has(t.field)) {
      if (t.op !== ':') throw queryError(input, t.position, `"${t.field}" takes ":" only`);
      const prefix = t.value.length > 1 && t.value.endsWith('*');
      const value = prefix ? t.value.slice(0, -1) : t.value;
      const text: TextTerm = {
        type: 'text',
        value,
        phrase: true,
        prefix,
        negate: t.negate,
        position: t.position,
      };
      (t.negate ? negatives : positives).push(text);
    } else if (t.type === 'text') (t.negate ? negatives : positives).push(t);
    else fields.push(t);
  }
  return { positives, negatives, fields };
}

const COLUMNS_SELECTED =
  'l.id, l.time, l.environment, l.namespace, l.service, l.replica, l.stream, l.level, l.message, l.trace_id, l.span_id, l.attributes';

/**
 * SQL for a parsed query, newest first (by arrival). Excluded words are checked in JS on the rows
 * read (SQL would have to materialise every row that has them); see CompileOptions.plan.
 */
export function compileLogQuery(
  input: string,
  terms: readonly QueryTerm[],
  opts: CompileOptions = {},
): CompiledLogQuery {
  const { positives, negatives, fields } = splitTerms(input, terms);
  const plan: LogQueryPlan = positives.length > 0 && opts.plan !== 'scan' ? 'fts' : 'scan';
  const conds: string[] = [];
  const params: unknown[] = [];
  for (const t of fields) {
    const c = fieldCondition(input, t, params);
    conds.push(t.negate ? `NOT coalesce(${c}, 0)` : c);
  }
  const id = plan === 'fts' ? 'f.rowid' : 'l.id';
  const add = (cond: string, param: unknown) => {
    conds.push(cond);
    params.push(param);
  };
  if (opts.environment !== undefined) add('l.environment = ?', opts.environment);
  if (opts.since !== undefined) add('l.time >= ?', opts.since);
  if (opts.until !== undefined) add('l.time <= ?', opts.until);
  if (opts.minId !== undefined) add(`${id} >= ?`, opts.minId);
  if (opts.maxId !== undefined) add(`${id} <= ?`, opts.maxId);
  if (opts.afterId !== undefined) add(`${id} > ?`, opts.afterId);
  const keep = plan === 'fts' ? keepFilter([], negatives) : keepFilter(positives, negatives);
  const limit = keep ? '' : ' LIMIT ?';
  const tail = keep ? [] : [opts.limit ?? 100];
  if (plan === 'fts') {
    const where = ['logs_fts MATCH ?', ...conds].join(' AND ');
    return {
      sql: `SELECT ${COLUMNS_SELECTED} FROM logs_fts f JOIN logs l ON l.id = f.rowid WHERE ${where} ORDER BY f.rowid DESC${limit}`,
      params: [positives.map(ftsString).join(' AND '), ...params, ...tail],
      plan,
      keep,
    };
  }
  const where = conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : '';
  return {
    sql: `SELECT ${COLUMNS_SELECTED} FROM logs l${where} ORDER BY l.id DESC${limit}`,
    params: [...params, ...tail],
    plan,
    keep,
  };
}

/**
 * How many rows the query's indexed fields (service, level, trace id) allow in the id range, counted
 * up to `cap` through the indexes alone; null when it has none. LogStore picks the `scan` plan when
 * the count stays under the cap.
 */
export function indexedCandidates(
  input: string,
  terms: readonly QueryTerm[],
  opts: Pick<CompileOptions, 'minId' | 'maxId'> & { cap: number },
): CompiledLogQuery | null {
  const { fields } = splitTerms(input, terms);
  const conds: string[] = [];
  const params: unknown[] = [];
  for (const t of fields) {
    const column = COLUMNS[t.field];
    const indexed = column === 'service' || column === 'level' || column === 'trace_id';
    if (!indexed || t.negate || t.value.includes('*')) continue;
    conds.push(fieldCondition(input, t, params));
  }
  if (conds.length === 0) return null;
  if (opts.minId !== undefined) {
    conds.push('l.id >= ?');
    params.push(opts.minId);
  }
  if (opts.maxId !== undefined) {
    conds.push('l.id <= ?');
    params.push(opts.maxId);
  }
  return {
    sql: `SELECT count(*) FROM (SELECT 1 FROM logs l WHERE ${conds.join(' AND ')} LIMIT ?)`,
    params: [...params, opts.cap],
    plan: 'scan',
    keep: null,
  };
}
