import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  DEFAULT_MAX_OTLP_BYTES,
  OtlpRequestError,
  decodeLogs,
  decodeMetrics,
  decodeTraces,
  encodeErrorStatus,
  encodeExportResponse,
  otlpFormatOf,
  readOtlpBody,
  type NormalisedSpans,
  type Observability,
  type OtlpSignal,
} from '../../observe/index.ts';

/** Who a replica is, found by its source address (the allocation maps addresses to replicas). */
export interface ReplicaIdentity {
  environment: string;
  namespace: string;
  service: string;
  replica: number;
  /** `<namespace>/<service>-<index>` */
  id: string;
}

export interface OtlpGatewayDeps {
  observe: Observability;
  /** The replica behind a source address, undefined for any other sender (refused). */
  identify: (address: string) => ReplicaIdentity | undefined;
  /** @default 16 MiB */
  maxBodyBytes?: number;
}

/** The resource attribute that keeps a `service.name` the sender claimed when it disagreed. */
export const CLAIMED_SERVICE_ATTRIBUTE = 'rampart.claimed_service.name';

const stripV4Mapped = (ip: string) => (ip.startsWith('::ffff:') ? ip.slice(7) : ip);

interface MutableKeyValue {
  key: string;
  value?: { stringValue?: string; value?: string } | null;
}

/**
 * Spans are attributed to the replica that sent them, whatever they claim: a replica cannot
 * write spans in another service's name (the API token it does not have would be the only other
 * way in). A disagreeing claim is kept as an attribute, for the curious.
 */
export function attributeSpans(decoded: NormalisedSpans, who: ReplicaIdentity): void {
  for (const s of decoded.spans) {
    if (s.service !== who.service) s.resource[CLAIMED_SERVICE_ATTRIBUTE] = s.service;
    s.service = who.service;
    s.environment = who.environment;
    s.replica = String(who.replica);
    s.resource['service.name'] = who.service;
    s.resource['rampart.environment'] = who.environment;
    s.resource['rampart.namespace'] = who.namespace;
    s.resource['rampart.replica'] = String(who.replica);
  }
  // What is forwarded (OTLP as received) says the same.
  for (const rs of decoded.valid ?? []) {
    const attrs = (rs.resource?.attributes ?? []) as MutableKeyValue[];
    const name = attrs.find((kv) => kv.key === 'service.name');
    if (name?.value && name.value.stringValue !== who.service) {
      name.value.stringValue = who.service;
    }
  }
}

/**
 * The OTLP/HTTP receiver replicas reach on their bridges' gateways: `POST /v1/traces`, `/v1/logs`,
 * `/v1/metrics` and nothing else. No API token (replicas have none); a request is accepted only
 * from an address that belongs to a replica, and what it sends is attributed to that replica.
 */
export function buildOtlpGatewayApp(deps: OtlpGatewayDeps): FastifyInstance {
  const maxBytes = deps.maxBodyBytes ?? DEFAULT_MAX_OTLP_BYTES;
  const app = Fastify({ logger: false, bodyLimit: maxBytes });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBytes }, (_req, body, done) =>
    done(null, body),
  );

  const fail = (req: FastifyRequest, reply: FastifyReply, status: number, message: string) => {
    const out = encodeErrorStatus(status, message, otlpFormatOf(req.headers['content-type']) ?? 'json');
    return reply.code(status).type(out.contentType).send(out.body);
  };

  app.setErrorHandler((error, req, reply) => {
    const fe = error as { statusCode?: number; message: string };
    const status = fe.statusCode && fe.statusCode < 500 ? fe.statusCode : 500;
    return fail(req, reply, status, fe.message);
  });
  app.setNotFoundHandler((req, reply) =>
    fail(req, reply, 404, `${req.method} ${req.url}: only POST /v1/traces, /v1/logs and /v1/metrics here`),
  );

  const receive = (signal: OtlpSignal) => async (req: FastifyRequest, reply: FastifyReply) => {
    const who = deps.identify(stripV4Mapped(req.socket.remoteAddress ?? ''));
    if (!who) {
      return fail(req, reply, 403, `${req.socket.remoteAddress ?? '?'} is not a replica of this environment`);
    }
    try {
      const { format, bytes } = readOtlpBody({
        body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        contentType: req.headers['content-type'],
        contentEncoding: req.headers['content-encoding'],
        maxBytes,
      });
      let result: { rejected: number; errorMessage: string };
      if (signal === 'traces') {
        const decoded = decodeTraces(bytes, format, { keepValid: deps.observe.spanForwarder !== undefined });
        attributeSpans(decoded, who);
        deps.observe.ingestSpans(decoded);
        result = decoded;
      } else if (signal === 'logs') {
        const records = decodeLogs(bytes, format, Date.now()).records.map((r) => ({
          ...r,
          service: who.service,
          environment: who.environment,
          namespace: who.namespace,
          replica: String(who.replica),
        }));
        deps.observe.ingestLogs(records);
        result = { rejected: 0, errorMessage: '' };
      } else {
        const decoded = decodeMetrics(bytes, format);
        deps.observe.ingestMetricPoints(decoded.points.map((p) => ({ ...p, service: who.service })));
        result = decoded;
      }
      const out = encodeExportResponse(signal, format, result);
      return reply.code(200).type(out.contentType).send(out.body);
    } catch (e) {
      if (!(e instanceof OtlpRequestError)) throw e;
      return fail(req, reply, e.status, e.message);
    }
  };
  app.post('/v1/traces', receive('traces'));
  app.post('/v1/logs', receive('logs'));
  app.post('/v1/metrics', receive('metrics'));
  return app;
}
