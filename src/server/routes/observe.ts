import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import {
  DEFAULT_MAX_OTLP_BYTES,
  OtlpRequestError,
  decodeLogs,
  decodeMetrics,
  decodeTraces,
  encodeErrorStatus,
  encodeExportResponse,
  esError,
  esRootInfo,
  filterPath,
  logInputFromDocument,
  otlpFormatOf,
  parseBulk,
  parseTimeBound,
  readOtlpBody,
  renderWaterfall,
  type FlowEdge,
  type Observability,
  type OtlpSignal,
} from '../../observe/index.ts';
import { parseDuration } from '../../platform/clock.ts';
import { RampartError, isRampartError } from '../../platform/errors.ts';
import { ndjson } from '../ndjson.ts';
import { parse } from './validate.ts';

export interface ObserveRouteDeps {
  observe: Observability;
  /** Largest OTLP or `_bulk` body, compressed and decompressed. @default 16 MiB */
  maxBodyBytes?: number;
  /** Flows (conntrack) in the map's window, drawn as edges beside the traced calls. */
  flows?: (q: {
    windowMs: number;
    environment?: string;
  }) => readonly FlowEdge[] | Promise<readonly FlowEdge[]>;
  /** Answered as the Elasticsearch `cluster_uuid` (stable per installation is best). */
  clusterUuid?: string;
}

const ES_HEADERS = { 'x-elastic-product': 'Elasticsearch' };
// What Elasticsearch 8 accepts on _bulk (it answers 406 to anything else).
const BULK_TYPES = new Set([
  'application/x-ndjson',
  'application/json',
  'application/vnd.elasticsearch+x-ndjson',
  'application/vnd.elasticsearch+json',
]);

const mediaType = (req: FastifyRequest) =>
  (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

function timeBound(value: string | undefined, now: number, field: string): number | undefined {
  try {
    return parseTimeBound(value, now);
  } catch (e) {
    throw new RampartError('RAMPART_E_BAD_REQUEST', `${field}: ${(e as Error).message}`, { field });
  }
}

function durationMs(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+(\.\d+)?$/.test(value) ? Number(value) : parseDuration(value);
  if (ms === undefined)
    throw new RampartError('RAMPART_E_BAD_REQUEST', `${field}: not a duration (250ms, 2s, 5m)`, { field });
  return ms;
}

const TracesQuery = z.object({
  service: z.string().min(1).optional(),
  operation: z.string().min(1).optional(),
  environment: z.string().min(1).optional(),
  minDuration: z.string().optional(),
  error: z.enum(['true', 'false']).optional(),
  since: z.string().optional(),
  until: z.string().optional(),
  limit: z.coerce.number().int().positive().max(1000).optional(),
});
const TraceQuery = z.object({ width: z.coerce.number().int().min(40).max(400).optional() });
const MapQuery = z.object({ window: z.string().optional(), environment: z.string().min(1).optional() });
const RangeQuery = z.object({ since: z.string().optional(), until: z.string().optional() });
const SeriesQuery = z.object({
  kind: z.enum(['service', 'edge', 'replica']),
  key: z.string().min(1),
  since: z.string().optional(),
  until: z.string().optional(),
  resolution: z.enum(['10s', '1m']).optional(),
});
const LogsQuery = z.object({
  query: z.string().optional(),
  environment: z.string().min(1).optional(),
  since: z.string().optional(),
  until: z.string().optional(),
  limit: z.coerce.number().int().positive().max(10_000).optional(),
  follow: z.enum(['true', 'false']).optional(),
});

/**
 * Observability routes: the OTLP/HTTP receiver (`POST /v1/traces`, `/v1/logs`, `/v1/metrics`), the
 * Elasticsearch-compatible endpoint (`GET|HEAD /`, `POST|PUT /_bulk`, `/<index>/_bulk`) and the query
 * API under `/v1/observe/`. Mounted in an encapsulated scope: bodies arrive as raw bytes (protobuf,
 * exact JSON integers, NDJSON), with a larger body limit than the control API's.
 */
export function registerObserveRoutes(app: FastifyInstance, deps: ObserveRouteDeps): void {
  const { observe } = deps;
  const maxBytes = deps.maxBodyBytes ?? DEFAULT_MAX_OTLP_BYTES;
  const clusterUuid = deps.clusterUuid ?? 'rampart-observe-000000';

  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (_req, body, done) =>
      done(null, body),
    );

    scope.setErrorHandler((error, req, reply) => {
      const fe = error as { statusCode?: number; message: string };
      const url = req.routeOptions.url ?? req.url;
      const status = isRampartError(error)
        ? error.status
        : fe.statusCode && fe.statusCode < 500
          ? fe.statusCode
          : 500;
      if (/^\/v1\/(traces|logs|metrics)$/.test(url) && req.method === 'POST') {
        const out = encodeErrorStatus(
          status,
          fe.message,
          otlpFormatOf(req.headers['content-type']) ?? 'json',
        );
        return reply.code(status).type(out.contentType).send(out.body);
      }
      if (url.endsWith('_bulk')) {
        const type = status === 413 ? 'content_too_long_exception' : 'parse_exception';
        return reply
          .code(status)
          .headers(ES_HEADERS)
          .send(esError(type, fe.message, status));
      }
      const e = isRampartError(error)
        ? error
        : new RampartError(status === 500 ? 'RAMPART_E_INTERNAL' : 'RAMPART_E_BAD_REQUEST', fe.message);
      return reply.code(e.status).send({ error: e.toJSON() });
    });

    // OTLP/HTTP receiver.
    const receive = (signal: OtlpSignal) => async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        const { format, bytes } = readOtlpBody({
          body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
          contentType: req.headers['content-type'],
          contentEncoding: req.headers['content-encoding'],
          maxBytes,
        });
        let result: { rejected: number; errorMessage: string };
        if (signal === 'traces') {
          const decoded = decodeTraces(bytes, format, { keepValid: observe.spanForwarder !== undefined });
          observe.ingestSpans(decoded);
          result = decoded;
        } else if (signal === 'logs') {
          observe.ingestLogs(decodeLogs(bytes, format, Date.now()).records);
          result = { rejected: 0, errorMessage: '' };
        } else {
          const decoded = decodeMetrics(bytes, format);
          observe.ingestMetricPoints(decoded.points);
          result = decoded;
        }
        const out = encodeExportResponse(signal, format, result);
        return reply.code(200).type(out.contentType).send(out.body);
      } catch (e) {
        if (!(e instanceof OtlpRequestError)) throw e;
        const out = encodeErrorStatus(
          e.status,
          e.message,
          otlpFormatOf(req.headers['content-type']) ?? 'json',
        );
        return reply.code(e.status).type(out.contentType).send(out.body);
      }
    };
    scope.post('/v1/traces', receive('traces'));
    scope.post('/v1/logs', receive('logs'));
    scope.post('/v1/metrics', receive('metrics'));

    // Elasticsearch-compatible endpoint (fastify answers HEAD / from the GET route).
    scope.get('/', async (_req, reply) => reply.headers(ES_HEADERS).send(esRootInfo(clusterUuid)));
    let seqNo = 0;
    const bulk = async (
      req: FastifyRequest<{ Params: { index?: string }; Querystring: { filter_path?: string } }>,
      reply: FastifyReply,
    ) => {
      const started = Date.now();
      reply.headers(ES_HEADERS);
      const type = mediaType(req);
      if (!BULK_TYPES.has(type)) {
        return reply.code(406).send({
          error: `Content-Type header [${req.headers['content-type'] ?? ''}] is not supported`,
          status: 406,
        });
      }
      let body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if ((req.headers['content-encoding'] ?? '').toLowerCase() === 'gzip') {
        try {
          body = gunzipSync(body, { maxOutputLength: maxBytes });
        } catch (e) {
          const tooLong = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
          return reply
            .code(tooLong ? 413 : 400)
            .send(
              esError(
                tooLong ? 'content_too_long_exception' : 'parse_exception',
                (e as Error).message,
                tooLong ? 413 : 400,
              ),
            );
        }
      }
      const parsed = parseBulk(body.toString('utf8'), { defaultIndex: req.params.index, firstSeqNo: seqNo });
      if (!parsed.ok) return reply.code(parsed.status).send(parsed.body);
      seqNo += parsed.documents.length;
      const now = Date.now();
      observe.ingestLogs(parsed.documents.map((d) => logInputFromDocument(d, now)));
      const answer = { took: Date.now() - started, errors: parsed.errors, items: parsed.items };
      return reply.code(200).send(filterPath(answer, req.query.filter_path));
    };
    scope.post('/_bulk', bulk);
    scope.put('/_bulk', bulk);
    scope.post('/:index/_bulk', bulk);
    scope.put('/:index/_bulk', bulk);

    // Query API.
    scope.get('/v1/observe/traces', async (req) => {
      const q = parse(TracesQuery, req.query);
      const now = Date.now();
      return {
        traces: observe.traces.listTraces({
          service: q.service,
          operation: q.operation,
          environment: q.environment,
          minDurationMs: durationMs(q.minDuration, 'minDuration'),
          error: q.error === 'true' ? true : undefined,
          since: timeBound(q.since, now, 'since'),
          until: timeBound(q.until, now, 'until'),
          limit: q.limit,
        }),
      };
    });
    scope.get<{ Params: { traceId: string } }>('/v1/observe/traces/:traceId', async (req) => {
      const q = parse(TraceQuery, req.query);
      const spans = observe.traces.getTrace(req.params.traceId);
      if (spans.length === 0)
        throw new RampartError('RAMPART_E_NOT_FOUND', `no trace ${req.params.traceId} is stored`, {
          fix: 'List traces with `rampart traces`; old traces are deleted by retention.',
        });
      return {
        traceId: req.params.traceId.toLowerCase(),
        spans,
        waterfall: renderWaterfall(spans, q.width ?? 100),
      };
    });
    scope.get('/v1/observe/map', async (req) => {
      const q = parse(MapQuery, req.query);
      const windowMs = durationMs(q.window, 'window') ?? 5 * 60_000;
      const flows = deps.flows ? await deps.flows({ windowMs, environment: q.environment }) : undefined;
      return observe.serviceMap({ windowMs, environment: q.environment, flows });
    });
    scope.get('/v1/observe/red', async (req) => {
      const q = parse(RangeQuery, req.query);
      const now = Date.now();
      return observe.metrics.red({
        since: timeBound(q.since ?? '5m', now, 'since') ?? now,
        until: timeBound(q.until, now, 'until') ?? now,
      });
    });
    scope.get('/v1/observe/metrics', async (req) => {
      const q = parse(SeriesQuery, req.query);
      const now = Date.now();
      const range = {
        since: timeBound(q.since ?? '1h', now, 'since') ?? now,
        until: timeBound(q.until, now, 'until') ?? now,
      };
      if (q.kind === 'replica')
        return {
          points: observe.metrics.replicaSeries({ replica: q.key, ...range, resolution: q.resolution }),
        };
      return {
        points: observe.metrics.series({ kind: q.kind, key: q.key, ...range, resolution: q.resolution }),
      };
    });
    scope.get('/v1/observe/forwarding', async () => observe.forwarding());
    scope.get('/v1/observe/logs', async (req, reply) => {
      const q = parse(LogsQuery, req.query);
      const now = Date.now();
      const search = {
        query: q.query,
        environment: q.environment,
        since: timeBound(q.since, now, 'since'),
        until: timeBound(q.until, now, 'until'),
        limit: q.limit,
      };
      // search() parses the query: a bad one is a 400 before the stream starts. Nothing can be
      // stored between search and subscribe (same turn of the event loop), so no line is missed.
      const lines = observe.logs.search(search).reverse();
      const out = ndjson(reply);
      for (const l of lines) out.send(l);
      if (q.follow !== 'true') return out.end();
      const off = observe.logs.subscribe(search, (l) => out.send(l));
      reply.raw.on('close', off);
    });
  });
}
