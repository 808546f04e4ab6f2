/**
 * gateway: the merchant API, published to the host.
 *
 *   POST /v1/assessments   an Order -> { assessmentId, decision, score, reasons }
 *   GET  /v1/assessments/:id
 *   POST /v1/feedback      { assessmentId, label: chargeback | confirmed-good }
 *
 * Every request carries `x-api-key`; config holds only the keys' SHA-256 (`gateway_merchants__<id>__apiKeyHash`).
 */
import { createRequire } from 'node:module';
import { admissionWindow, windowFor } from '../../lib/batch.ts';
import { httpError, log, serve, type RequestContext } from '../../lib/http.ts';
import type { Assessment } from '../../lib/types.ts';
import { merchantRegistry, RateLimiter, type MerchantConfig } from './auth.ts';
import { batchingClient, getJson, isUpstreamFailure, postJson } from './client.ts';
import { answerOf, assess, type Upstreams } from './pipeline.ts';
import { validateOrder } from './validate.ts';

const require = createRequire(import.meta.url);
const conf = require('rc')('gateway', {
  merchants: {},
  defaultRateLimit: { perSecond: 500, burst: 1000 },
  services: {
    identity: 'http://identity:8080',
    geo: 'http://geo:8080',
    payment: 'http://payment:8080',
    velocity: 'http://velocity:8080',
    credit: 'http://credit:8080',
    scoring: 'http://scoring:8080',
    decision: 'http://decision:8080',
    audit: 'http://audit:8080',
  },
  timeouts: { signalMs: 250, scoringMs: 1000, decisionMs: 1000, auditMs: 2000 },
  maxInFlight: 256,
  idempotency: { lookupFirst: true },
  // Calls to each upstream coalesce into batch requests while earlier ones are in flight
  // (client.ts); maxBatch 1 turns batching off. windowMs: while other assessments are in flight,
  // a new one waits for more to start with it, windowStepMs per other one in flight (windowMs
  // when not set), at most windowMs (0: it starts at once).
  batch: { maxBatch: 64, maxConcurrent: 2, windowMs: 0 },
}) as {
  idempotency: { lookupFirst: unknown };
  batch: { maxBatch: unknown; maxConcurrent: unknown; windowMs: unknown; windowStepMs?: unknown };
  maxInFlight: unknown;
  merchants: Record<string, unknown>;
  defaultRateLimit: { perSecond: unknown; burst: unknown };
  services: Record<
    'identity' | 'geo' | 'payment' | 'velocity' | 'credit' | 'scoring' | 'decision' | 'audit',
    string
  >;
  timeouts: Record<'signalMs' | 'scoringMs' | 'decisionMs' | 'auditMs', unknown>;
};

const merchants = merchantRegistry(conf.merchants, {
  perSecond: Number(conf.defaultRateLimit.perSecond),
  burst: Number(conf.defaultRateLimit.burst),
});
const limiter = new RateLimiter();
const svc = conf.services;
const t = {
  signal: Number(conf.timeouts.signalMs),
  scoring: Number(conf.timeouts.scoringMs),
  decision: Number(conf.timeouts.decisionMs),
  audit: Number(conf.timeouts.auditMs),
};

/**
 * Upstream failures, counted and logged once a second per upstream: under overload, one line per
 * failure would itself become the overload (stdout is a pipe, and a full pipe blocks the writer).
 */
const failures = new Map<string, { count: number; last: string }>();
function noteFailure(upstream: string, error: unknown): void {
  const e = failures.get(upstream) ?? { count: 0, last: '' };
  e.count++;
  e.last = isUpstreamFailure(error) ? error.message : String((error as Error | undefined)?.message ?? error);
  failures.set(upstream, e);
}
let inFlight = 0;
let shed = 0;
const maxInFlight = Number(conf.maxInFlight);
// rc delivers env values as strings: "false" must mean false.
const lookupFirst = String(conf.idempotency.lookupFirst) !== 'false';

setInterval(() => {
  for (const [upstream, e] of failures)
    log('warn', 'upstream failures', { upstream, count: e.count, last: e.last });
  failures.clear();
  if (shed > 0) log('warn', 'overloaded: assessments refused', { count: shed, maxInFlight });
  shed = 0;
}, 1000).unref();

/** A required upstream that fails turns into a 503 naming it, not a bare 500. */
function required<T>(service: string, p: Promise<T>): Promise<T> {
  return p.catch((error: unknown) => {
    noteFailure(service, error);
    throw httpError(503, { error: 'assessment service unavailable', service });
  });
}

/** undefined on 404, the answer otherwise. */
async function orNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (error) {
    if (isUpstreamFailure(error) && error.status === 404) return undefined;
    throw error;
  }
}

/**
 * A number from the gateway's config: milliseconds (0 or more) or a count (a whole number, 1 or
 * more; a NaN there would stall every call). Startup fails on anything else, naming the key.
 */
function configNumber(key: string, value: unknown, kind: 'milliseconds' | 'count'): number {
  const n = Number(value);
  const ok = kind === 'milliseconds' ? Number.isFinite(n) && n >= 0 : Number.isInteger(n) && n >= 1;
  if (value === '' || !ok) {
    const expected =
      kind === 'milliseconds' ? 'a number of milliseconds (0 or more)' : 'a whole number (1 or more)';
    throw new Error(`gateway config ${key}: ${JSON.stringify(value)} is not ${expected}`);
  }
  return n;
}
const windowMs = configNumber('batch.windowMs', conf.batch.windowMs, 'milliseconds');
const windowStepMs =
  conf.batch.windowStepMs === undefined
    ? windowMs
    : configNumber('batch.windowStepMs', conf.batch.windowStepMs, 'milliseconds');
const admit = windowMs > 0 ? admissionWindow(windowMs) : undefined;
const batching = {
  maxBatch: configNumber('batch.maxBatch', conf.batch.maxBatch, 'count'),
  maxConcurrent: configNumber('batch.maxConcurrent', conf.batch.maxConcurrent, 'count'),
};
const client = {
  identity: batchingClient(svc.identity, batching),
  geo: batchingClient(svc.geo, batching),
  payment: batchingClient(svc.payment, batching),
  velocity: batchingClient(svc.velocity, batching),
  credit: batchingClient(svc.credit, batching),
  scoring: batchingClient(svc.scoring, batching),
  decision: batchingClient(svc.decision, batching),
  audit: batchingClient(svc.audit, batching),
};

const up: Upstreams = {
  identity: (body) => client.identity('/check', body, t.signal),
  geo: (body) => client.geo('/check', body, t.signal),
  payment: (body) => client.payment('/check', body, t.signal),
  velocity: (body) => client.velocity('/check', body, t.signal),
  credit: (body) => client.credit('/check', body, t.signal),
  score: (body) => required('scoring', client.scoring('/score', body, t.scoring)),
  decide: (body) => required('decision', client.decision('/decide', body, t.decision)),
  store: (record) => required('audit', client.audit('/assessments', record, t.audit)),
  byOrder: (merchantId, orderId) =>
    required(
      'audit',
      orNotFound(
        getJson<Assessment>(
          `${svc.audit}/assessments/by-order?merchantId=${encodeURIComponent(merchantId)}&orderId=${encodeURIComponent(orderId)}`,
          t.audit,
        ),
      ),
    ),
};

function authenticate(ctx: RequestContext): MerchantConfig {
  const key = ctx.headers['x-api-key'];
  if (typeof key !== 'string' || key.length === 0)
    throw httpError(401, { error: 'missing API key: send it in the x-api-key header' });
  const merchant = merchants.byKey(key);
  if (!merchant) throw httpError(401, { error: 'unknown API key' });
  const waitMs = limiter.take(merchant);
  if (waitMs > 0)
    throw httpError(429, {
      error: 'rate limit exceeded',
      merchantId: merchant.merchantId,
      retryAfterMs: waitMs,
    });
  return merchant;
}

async function ownAssessment(merchant: MerchantConfig, id: string): Promise<Assessment> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw httpError(404, { error: 'no such assessment' });
  const a = await required(
    'audit',
    orNotFound(getJson<Assessment>(`${svc.audit}/assessments/${id}`, t.audit)),
  );
  // Another merchant's assessment is "not found", so ids reveal nothing.
  if (!a || a.merchantId !== merchant.merchantId) throw httpError(404, { error: 'no such assessment' });
  return a;
}

const LABELS = ['chargeback', 'confirmed-good'];

serve({
  name: 'gateway',
  routes: [
    {
      method: 'POST',
      path: '/v1/assessments',
      handler: async (ctx) => {
        const merchant = authenticate(ctx);
        const checked = validateOrder(ctx.body);
        if ('errors' in checked) throw httpError(400, { error: 'invalid order', fields: checked.errors });
        if (checked.order.merchantId !== merchant.merchantId) {
          throw httpError(403, {
            error: 'merchantId does not match the API key',
            merchantId: checked.order.merchantId,
          });
        }
        // Load shedding: past this many assessments in flight, new ones are refused at once
        // instead of queueing until every one of them times out.
        if (inFlight >= maxInFlight) {
          shed++;
          throw httpError(503, { error: 'overloaded, retry later', inFlight });
        }
        inFlight++;
        try {
          // The more other assessments are in flight, the longer it waits for company, up to
          // windowMs; alone (windowFor 0), it starts at once.
          const ms = windowFor(inFlight - 1, windowStepMs, windowMs);
          if (admit && ms > 0) await admit(ms);
          return await assess(up, checked.order, { onUnavailable: noteFailure, lookupFirst });
        } finally {
          inFlight--;
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/assessments/:id',
      handler: async (ctx) => {
        const merchant = authenticate(ctx);
        const a = await ownAssessment(merchant, ctx.params.id ?? '');
        const feedback = (a as { feedback?: unknown }).feedback;
        return {
          ...answerOf(a),
          merchantId: a.merchantId,
          orderId: a.orderId,
          createdAt: a.createdAt,
          feedback: Array.isArray(feedback) ? feedback : [],
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/feedback',
      handler: async (ctx) => {
        const merchant = authenticate(ctx);
        const b = (ctx.body ?? {}) as Record<string, unknown>;
        const fields = [];
        if (typeof b.assessmentId !== 'string' || b.assessmentId.length === 0)
          fields.push({ field: 'assessmentId', message: 'is required' });
        if (typeof b.label !== 'string' || !LABELS.includes(b.label))
          fields.push({ field: 'label', message: `must be one of ${LABELS.join(', ')}` });
        if (fields.length > 0) throw httpError(400, { error: 'invalid feedback', fields });
        const a = await ownAssessment(merchant, b.assessmentId as string);
        await required(
          'audit',
          postJson(`${svc.audit}/feedback`, { assessmentId: a.assessmentId, label: b.label }, t.audit),
        );
        return { assessmentId: a.assessmentId, label: b.label, recorded: true };
      },
    },
  ],
});
log('info', 'merchants loaded', { merchants: merchants.size });
