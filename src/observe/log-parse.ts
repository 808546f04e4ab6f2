import type { LogLevel } from './types.ts';

/** What a log line or document says about itself. */
export interface ParsedLog {
  level: LogLevel | null;
  message: string;
  /** The line's own time (ms since the epoch), when it carries one. */
  time: number | null;
  traceId: string | null;
  spanId: string | null;
  /** ECS `service.name` (or a `service` string), when present. */
  service: string | null;
  /** Everything else, as the line had it. */
  attributes: Record<string, unknown>;
}

const LEVEL_WORDS: Record<string, LogLevel> = {
  trace: 'trace',
  silly: 'trace', // winston
  debug: 'debug',
  dbg: 'debug',
  verbose: 'debug', // winston
  info: 'info',
  information: 'info',
  informational: 'info',
  notice: 'info',
  http: 'info', // winston
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  err: 'error',
  fatal: 'fatal',
  critical: 'fatal',
  crit: 'fatal',
  alert: 'fatal',
  emerg: 'fatal',
  emergency: 'fatal',
  panic: 'fatal',
};

/** pino and bunyan numbers (10 trace … 60 fatal) or the usual words, to one of six levels. */
export function normaliseLevel(value: unknown): LogLevel | null {
  if (typeof value === 'number') {
    if (value >= 60) return 'fatal';
    if (value >= 50) return 'error';
    if (value >= 40) return 'warn';
    if (value >= 30) return 'info';
    if (value >= 20) return 'debug';
    if (value >= 10) return 'trace';
    return null;
  }
  if (typeof value !== 'string' || value === '') return null;
  const word = value.trim().toLowerCase();
  if (/^\d+$/.test(word)) return normaliseLevel(Number(word));
  return LEVEL_WORDS[word] ?? null;
}

/** OTLP SeverityNumber ranges (logs data model): 1-4 TRACE … 21-24 FATAL. */
export function levelFromSeverityNumber(n: number): LogLevel | null {
  if (n >= 21) return n <= 24 ? 'fatal' : null;
  if (n >= 17) return 'error';
  if (n >= 13) return 'warn';
  if (n >= 9) return 'info';
  if (n >= 5) return 'debug';
  if (n >= 1) return 'trace';
  return null;
}

/** Milliseconds from an epoch number (s, ms or µs, judged by size) or a date string. */
export function parseTime(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) {
    if (value > 1e14) return Math.floor(value / 1000); // microseconds
    if (value > 1e11) return Math.floor(value); // milliseconds (pino)
    return Math.floor(value * 1000); // seconds (zap, structlog)
  }
  if (typeof value === 'string' && value !== '') {
    if (/^\d+(\.\d+)?$/.test(value)) return parseTime(Number(value));
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

const HEX_ID = /^[0-9a-fA-F]+$/;

function id(value: unknown, length: number): string | null {
  return typeof value === 'string' && value.length === length && HEX_ID.test(value) && !/^0+$/.test(value)
    ? value.toLowerCase()
    : null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Takes a field given either flat (`"log.level": …`, ECS over JSON often is) or nested
 * (`{"log": {"level": …}}`), and removes it from `rest` (dropping a parent left empty).
 */
function take(rest: Obj, path: string): unknown {
  if (path in rest) {
    const v = rest[path];
    delete rest[path];
    return v;
  }
  const dot = path.indexOf('.');
  if (dot < 0) return undefined;
  const parentKey = path.slice(0, dot);
  const parent = rest[parentKey];
  if (!isObj(parent)) return undefined;
  const childKey = path.slice(dot + 1);
  if (!(childKey in parent)) return undefined;
  const { [childKey]: v, ...others } = parent;
  if (Object.keys(others).length === 0) delete rest[parentKey];
  else rest[parentKey] = others;
  return v;
}

function peek(rest: Obj, path: string): unknown {
  if (path in rest) return rest[path];
  const dot = path.indexOf('.');
  if (dot < 0) return undefined;
  const parent = rest[path.slice(0, dot)];
  return isObj(parent) ? parent[path.slice(dot + 1)] : undefined;
}

/** The first of `paths` present with an acceptable value, removed from `rest`. */
function first(
  rest: Obj,
  paths: readonly string[],
  accept: (v: unknown) => boolean = (v) => v != null,
): unknown {
  for (const p of paths) {
    const v = peek(rest, p);
    if (v !== undefined && accept(v)) {
      take(rest, p);
      return v;
    }
  }
  return undefined;
}

/**
 * A structured log object in any of the usual shapes: pino (`level` 10..60, `msg`, `time` ms),
 * bunyan (`v`, `level`, `msg`, ISO `time`), winston (`level` word, `message`, `timestamp`), ECS
 * (`@timestamp`, `log.level`, `message`, `trace.id`, `service.name`), or close enough.
 */
export function parseLogObject(obj: Obj): ParsedLog {
  const rest: Obj = { ...obj };
  const rawMessage = first(rest, ['message', 'msg', 'log'], (v) => typeof v === 'string') ?? '';
  const level = normaliseLevel(
    first(rest, ['level', 'log.level', 'severity', 'levelname', 'lvl', 'severity_text']),
  );
  const time = parseTime(
    first(rest, ['@timestamp', 'time', 'timestamp', 'ts'], (v) => parseTime(v) !== null),
  );
  const traceId = id(
    first(rest, ['trace_id', 'traceId', 'trace.id'], (v) => id(v, 32) !== null),
    32,
  );
  const spanId = id(
    first(rest, ['span_id', 'spanId', 'span.id'], (v) => id(v, 16) !== null),
    16,
  );
  const service = first(rest, ['service.name', 'service'], (v) => typeof v === 'string');
  // bunyan's format version says nothing about the event.
  if (rest.v === 0 && 'hostname' in rest) delete rest.v;
  return {
    level,
    message: String(rawMessage),
    time,
    traceId,
    spanId,
    service: typeof service === 'string' ? service : null,
    attributes: rest,
  };
}

const TEXT_LEVEL =
  /^\s*(?:\[\s*|\d{4}-\d\d-\d\d[T ][\d:.,]+Z?\s+)?(trace|debug|info|warn|warning|error|err|fatal|critical)\b/i;
const LOGFMT_LEVEL = /(?:^|\s)(?:level|lvl|severity)=("?)(\w+)\1(?:\s|$)/i;

/** One line of a replica's output: JSON when it is a JSON object, plain text otherwise. */
export function parseLogText(text: string): ParsedLog {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') && text.trimEnd().endsWith('}')) {
    try {
      const value: unknown = JSON.parse(text);
      if (isObj(value)) return parseLogObject(value);
    } catch {
      // Not JSON after all: keep it as text.
    }
  }
  const word = TEXT_LEVEL.exec(text)?.[1] ?? LOGFMT_LEVEL.exec(text)?.[2];
  return {
    level: normaliseLevel(word),
    message: text,
    time: null,
    traceId: null,
    spanId: null,
    service: null,
    attributes: {},
  };
}
