/**
 * The Elasticsearch `_bulk` API as shippers use it (Logstash, Fluent Bit, Filebeat,
 * pino-elasticsearch): NDJSON action/source pairs in, Elasticsearch's response shape out, so their
 * per-item error handling works unchanged. Pure: parsing and answers; the route stores the documents.
 */
import { randomBytes } from 'node:crypto';
import { parseLogObject } from './log-parse.ts';
import type { LogInput } from './types.ts';

export interface EsErrorBody {
  error: { root_cause: { type: string; reason: string }[]; type: string; reason: string };
  status: number;
}

/** Elasticsearch's whole-request error body. */
export function esError(type: string, reason: string, status = 400): EsErrorBody {
  return { error: { root_cause: [{ type, reason }], type, reason }, status };
}

export interface BulkDocument {
  index: string;
  id: string;
  source: Record<string, unknown>;
}

export type BulkParse =
  | { ok: false; status: number; body: EsErrorBody }
  | {
      ok: true;
      documents: BulkDocument[];
      items: Record<string, Record<string, unknown>>[];
      errors: boolean;
    };

const ACTIONS = new Set(['index', 'create', 'delete', 'update']);

/** Elasticsearch's auto-generated ids are 20 URL-safe base64 characters. */
export function newDocumentId(): string {
  return randomBytes(15).toString('base64url');
}

function tokenName(v: unknown): string {
  if (v === null) return 'VALUE_NULL';
  if (Array.isArray(v)) return 'START_ARRAY';
  if (typeof v === 'string') return 'VALUE_STRING';
  if (typeof v === 'number') return 'VALUE_NUMBER';
  if (typeof v === 'boolean') return 'VALUE_BOOLEAN';
  return 'START_OBJECT';
}

/**
 * Parses a `_bulk` body. A malformed action line or a missing index refuses the whole request (as
 * Elasticsearch does, 400); a source that is not a JSON object fails only its item
 * (`mapper_parsing_exception`); `delete` and `update` fail their item: Rampart's log store is
 * append-only.
 */
export function parseBulk(
  body: string,
  opts: { defaultIndex?: string; newId?: () => string; firstSeqNo?: number } = {},
): BulkParse {
  if (body.length > 0 && !body.endsWith('\n')) {
    return {
      ok: false,
      status: 400,
      body: esError('illegal_argument_exception', 'The bulk request must be terminated by a newline [\\n]'),
    };
  }
  const lines = body.split('\n');
  const documents: BulkDocument[] = [];
  const items: Record<string, Record<string, unknown>>[] = [];
  const newId = opts.newId ?? newDocumentId;
  let seqNo = opts.firstSeqNo ?? 0;
  let errors = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    const lineNo = i + 1;
    let action: unknown;
    try {
      action = JSON.parse(line);
    } catch (e) {
      return {
        ok: false,
        status: 400,
        body: esError('x_content_parse_exception', `[${lineNo}:1] ${(e as Error).message}`),
      };
    }
    if (typeof action !== 'object' || action === null || Array.isArray(action)) {
      return {
        ok: false,
        status: 400,
        body: esError(
          'illegal_argument_exception',
          `Malformed action/metadata line [${lineNo}], expected START_OBJECT or END_OBJECT but found [${tokenName(action)}]`,
        ),
      };
    }
    const keys = Object.keys(action);
    const name = keys[0];
    if (keys.length !== 1 || name === undefined || !ACTIONS.has(name)) {
      return {
        ok: false,
        status: 400,
        body: esError(
          'illegal_argument_exception',
          `Malformed action/metadata line [${lineNo}], expected field [create], [delete], [index] or [update] but found [${name ?? ''}]`,
        ),
      };
    }
    const meta = (action as Record<string, unknown>)[name];
    const metaObj = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : {};
    const index = typeof metaObj._index === 'string' ? metaObj._index : opts.defaultIndex;
    if (!index) {
      return {
        ok: false,
        status: 400,
        body: esError('action_request_validation_exception', 'Validation Failed: 1: index is missing;'),
      };
    }
    const id = typeof metaObj._id === 'string' && metaObj._id !== '' ? metaObj._id : newId();
    if (name === 'delete' || name === 'update') {
      if (name === 'update') i++; // its partial document
      errors = true;
      items.push({
        [name]: {
          _index: index,
          _id: id,
          status: 400,
          error: {
            type: 'illegal_argument_exception',
            reason: `Rampart keeps logs append-only: ${name} is not supported`,
            index,
          },
        },
      });
      continue;
    }
    i++;
    const sourceLine = lines[i];
    let source: unknown;
    let reason: string | undefined;
    if (sourceLine === undefined || (sourceLine === '' && i === lines.length - 1)) {
      return {
        ok: false,
        status: 400,
        body: esError('illegal_argument_exception', `The bulk request must be terminated by a newline [\\n]`),
      };
    }
    try {
      source = JSON.parse(sourceLine);
      if (typeof source !== 'object' || source === null || Array.isArray(source)) {
        reason = `failed to parse: the document must be a JSON object, found [${tokenName(source)}]`;
      }
    } catch (e) {
      reason = `failed to parse: ${(e as Error).message}`;
    }
    if (reason) {
      errors = true;
      items.push({
        [name]: {
          _index: index,
          _id: id,
          status: 400,
          error: { type: 'mapper_parsing_exception', reason, index },
        },
      });
      continue;
    }
    documents.push({ index, id, source: source as Record<string, unknown> });
    items.push({
      [name]: {
        _index: index,
        _id: id,
        _version: 1,
        result: 'created',
        _shards: { total: 1, successful: 1, failed: 0 },
        _seq_no: seqNo++,
        _primary_term: 1,
        status: 201,
      },
    });
  }
  return { ok: true, documents, items, errors };
}

function nested(obj: Record<string, unknown>, path: string): unknown {
  if (path in obj) return obj[path];
  const [head, ...rest] = path.split('.');
  const v = head === undefined ? undefined : obj[head];
  return rest.length > 0 && v && typeof v === 'object'
    ? nested(v as Record<string, unknown>, rest.join('.'))
    : v;
}

/** A `_bulk` document as a log record: message from `message`/`msg`/`log`, time from `@timestamp`. */
export function logInputFromDocument(doc: BulkDocument, now: number): LogInput {
  const p = parseLogObject(doc.source);
  const env = nested(doc.source, 'service.environment') ?? nested(doc.source, 'rampart.environment');
  return {
    time: p.time ?? now,
    service: p.service ?? doc.index,
    environment: typeof env === 'string' ? env : null,
    level: p.level,
    message: p.message !== '' ? p.message : JSON.stringify(p.attributes),
    traceId: p.traceId,
    spanId: p.spanId,
    attributes: { ...p.attributes, _index: doc.index, _id: doc.id },
  };
}

/** Elasticsearch's `filter_path` response filtering (comma-separated paths, `*` and `**`). */
export function filterPath(value: unknown, filter: string | undefined): unknown {
  if (!filter) return value;
  const paths = filter
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => p.split('.'));
  const keep = (v: unknown, ps: string[][]): unknown => {
    if (ps.some((p) => p.length === 0)) return v;
    if (Array.isArray(v)) {
      const out = v.map((x) => keep(x, ps)).filter((x) => x !== undefined);
      return out.length > 0 ? out : undefined;
    }
    if (typeof v !== 'object' || v === null) return undefined;
    const out: Record<string, unknown> = {};
    for (const [k, child] of Object.entries(v)) {
      const next: string[][] = [];
      for (const p of ps) {
        const [head, ...rest] = p;
        if (head === '**') next.push(p, rest);
        else if (head === '*' || head === k) next.push(rest);
      }
      if (next.length === 0) continue;
      const kept = keep(child, next);
      if (kept !== undefined) out[k] = kept;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  };
  return keep(value, paths) ?? {};
}

/** What `GET /` answers, as an Elasticsearch 8 node does (shippers probe it for the version). */
export function esRootInfo(clusterUuid: string): Record<string, unknown> {
  return {
    name: 'rampart',
    cluster_name: 'rampart',
    cluster_uuid: clusterUuid,
    version: {
      number: '8.11.0',
      build_flavor: 'default',
      build_type: 'tar',
      build_hash: '0000000000000000000000000000000000000000',
      build_date: '2023-11-04T10:04:57.184859352Z',
      build_snapshot: false,
      lucene_version: '9.8.0',
      minimum_wire_compatibility_version: '7.17.0',
      minimum_index_compatibility_version: '7.0.0',
    },
    tagline: 'You Know, for Search',
  };
}
