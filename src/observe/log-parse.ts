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
 * Reads fields given flat (`"log.level": …`, as ECS over JSON often is) or nested (`{"log":
 * {"level": …}}`) and remembers what it took, so the rest can become the attributes without
 * copying and deleting (deleting properties drops V8 objects into slow dictionary mode).
 */
class Fields {
  // Created per line: plain arrays (a handful of keys at most), the map only when needed.
  private readonly takenTop: string[] = [];
  private takenNested: Map<string, string[]> | undefined;

  constructor(readonly obj: Obj) {}

  /** The first of `paths` present with an acceptable value; it is left out of `rest()`. */
  take(paths: readonly string[], accept: (v: unknown) => boolean = (v) => v != null): unknown {
    for (const p of paths) {
      const flat = this.obj[p];
      if (flat !== undefined && !this.takenTop.includes(p)) {
        if (!accept(flat)) continue;
        this.takenTop.push(p);
        return flat;
      }
      const dot = p.indexOf('.');
      if (dot < 0) continue;
      const parentKey = p.slice(0, dot);
      const parent = this.obj[parentKey];
      if (!isObj(parent)) continue;
      const childKey = p.slice(dot + 1);
      const v = parent[childKey];
      if (v === undefined || !accept(v)) continue;
      this.takenNested ??= new Map();
      const taken = this.takenNested.get(parentKey) ?? [];
      taken.push(childKey);
      this.takenNested.set(parentKey, taken);
      return v;
    }
    return undefined;
  }

  drop(key: string): void {
    this.takenTop.push(key);
  }

  rest(): Obj {
    const out: Obj = {};
    for (const k in this.obj) {
      if (this.takenTop.includes(k)) continue;
      const nested = this.takenNested?.get(k);
      if (!nested) {
        out[k] = this.obj[k];
        continue;
      }
      const parent = this.obj[k] as Obj;
      const kept: Obj = {};
      let any = false;
      for (const c in parent) {
        if (nested.includes(c)) continue;
        kept[c] = parent[c];
        any = true;
      }
      if (any) out[k] = kept;
    }
    return out;
  }
}

/**
 * A structured log object in any of the usual shapes: pino (`level` 10..60, `msg`, `time` ms),
 * bunyan (`v`, `level`, `msg`, ISO `time`), winston (`level` word, `message`, `timestamp`), ECS
 * (`@timestamp`, `log.level`, `message`, `trace.id`, `service.name`), or close enough.
 */
export function parseLogObject(obj: Obj): ParsedLog {
  const f = new Fields(obj);
  const rawMessage = f.take(['message', 'msg', 'log'], (v) => typeof v === 'string') ?? '';
  const level = normaliseLevel(
    f.take(['level', 'log.level', 'severity', 'levelname', 'lvl', 'severity_text']),
  );
  const time = parseTime(f.take(['@timestamp', 'time', 'timestamp', 'ts'], (v) => parseTime(v) !== null));
  const traceId = id(
    f.take(['trace_id', 'traceId', 'trace.id'], (v) => id(v, 32) !== null),
    32,
  );
  const spanId = id(
    f.take(['span_id', 'spanId', 'span.id'], (v) => id(v, 16) !== null),
    16,
  );
  const service = f.take(['service.name', 'service'], (v) => typeof v === 'string');
  // bunyan's format version says nothing about the event.
  if (obj.v === 0 && 'hostname' in obj) f.drop('v');
  return {
    level,
    message: String(rawMessage),
    time,
    traceId,
    spanId,
    service: typeof service === 'string' ? service : null,
    attributes: f.rest(),
  };
}

const TEXT_LEVEL =
  /^\s*(?:\[\s*|\d{4}-\d\d-\d\d[T ][\d:.,]+Z?\s+)?(trace|debug|info|warn|warning|error|err|fatal|critical)\b/i;
const LOGFMT_LEVEL = /(?:^|\s)(?:level|lvl|severity)=("?)(\w+)\1(?:\s|$)/i;

const isSpace = (c: number) => c === 32 || c === 9 || c === 13 || c === 10;

function looksLikeObject(text: string): boolean {
  let i = 0;
  let j = text.length - 1;
  while (i <= j && isSpace(text.charCodeAt(i))) i++;
  while (j > i && isSpace(text.charCodeAt(j))) j--;
  return text.charCodeAt(i) === 123 && text.charCodeAt(j) === 125; // { … }
}

/** One line of a replica's output: JSON when it is a JSON object, plain text otherwise. */
export function parseLogText(text: string): ParsedLog {
  if (looksLikeObject(text)) {
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
