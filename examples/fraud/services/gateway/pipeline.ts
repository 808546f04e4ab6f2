/**
 * What the gateway does for one assessment, with every other service behind an `Upstreams`
 * interface (HTTP in server.ts, fakes in tests):
 *
 *   idempotency lookup (audit), identity, geo, payment, velocity, credit? all in parallel
 *   -> features -> scoring -> decision -> audit (store) -> answer
 *
 * A signal service that fails or times out does not fail the assessment: its features are left
 * out (scoring then uses the training mean) and `<SERVICE>_UNAVAILABLE` joins the reasons.
 * Scoring, decision and audit are required: without them there is no decision to stand behind.
 */
import { randomUUID } from 'node:crypto';
import type {
  Assessment,
  CreditSignals,
  DecisionResult,
  Features,
  GeoSignals,
  IdentitySignals,
  Order,
  PaymentSignals,
  ReasonCode,
  ScoreResult,
  VelocitySignals,
} from '../../lib/types.ts';
import { extractFeatures, unavailableReason, type OrderSignals } from '../../model/features.ts';

/** What audit stores for one assessment. */
export interface AuditRecord extends Assessment {
  features: Features;
  modelVersion: string;
  rule: string;
  /** Signal services that did not answer. */
  unavailable: string[];
}

export interface Upstreams {
  identity(body: {
    customer: Pick<Order['customer'], 'name' | 'email' | 'phone'>;
    billingAddress: Order['billingAddress'];
  }): Promise<IdentitySignals>;
  geo(body: {
    ipAddress: string;
    billingAddress: Order['billingAddress'];
    shippingAddress: Order['shippingAddress'];
  }): Promise<GeoSignals>;
  payment(body: {
    payment: Order['payment'];
    billingAddress: Order['billingAddress'];
  }): Promise<PaymentSignals>;
  velocity(body: { order: Order }): Promise<VelocitySignals>;
  /** Only name, date of birth, billing address, amount and currency: never device, IP or email. */
  credit(body: {
    customer: { name: string; dateOfBirth?: string };
    billingAddress: Order['billingAddress'];
    amount: number;
    currency: Order['currency'];
  }): Promise<CreditSignals>;
  score(body: { features: Features }): Promise<ScoreResult>;
  decide(body: {
    merchantId: string;
    score: number;
    reasons: ReasonCode[];
    amount: number;
    currency: Order['currency'];
  }): Promise<DecisionResult>;
  /** Stores the record; on a merchantId+orderId conflict answers the stored one with `existing: true`. */
  store(record: AuditRecord): Promise<Assessment & { existing?: boolean }>;
  byOrder(merchantId: string, orderId: string): Promise<Assessment | undefined>;
}

/** The answer of POST /v1/assessments. */
export interface AssessmentAnswer {
  assessmentId: string;
  decision: Assessment['decision'];
  score: number;
  reasons: ReasonCode[];
}

export interface AssessOptions {
  onUnavailable?: (service: string, error: unknown) => void;
  newId?: () => string;
  /**
   * Ask audit for a stored assessment of this merchant order before answering. Without it,
   * idempotency rests on audit's store alone, which answers the stored assessment on a conflict:
   * the same answer, one round trip and one query fewer per new order, at the price of running
   * the signals again for a retried one. @default true
   */
  lookupFirst?: boolean;
}

export function answerOf(a: Assessment): AssessmentAnswer {
  return { assessmentId: a.assessmentId, decision: a.decision, score: a.score, reasons: a.reasons };
}

/** The signals, each one that failed left out and named in `unavailable`. */
export async function gatherSignals(
  up: Upstreams,
  order: Order,
  onUnavailable?: AssessOptions['onUnavailable'],
): Promise<{ signals: OrderSignals; unavailable: string[] }> {
  const { customer, billingAddress, shippingAddress } = order;
  const bnpl = order.payment.method === 'invoice' || order.payment.method === 'paylater';
  const calls = {
    identity: up.identity({
      customer: { name: customer.name, email: customer.email, phone: customer.phone },
      billingAddress,
    }),
    geo: up.geo({ ipAddress: order.ipAddress, billingAddress, shippingAddress }),
    payment: up.payment({ payment: order.payment, billingAddress }),
    velocity: up.velocity({ order }),
    credit: bnpl
      ? up.credit({
          customer: {
            name: customer.name,
            ...(customer.dateOfBirth ? { dateOfBirth: customer.dateOfBirth } : {}),
          },
          billingAddress,
          amount: order.amount,
          currency: order.currency,
        })
      : undefined,
  };
  const names = Object.keys(calls) as (keyof typeof calls)[];
  const settled = await Promise.allSettled(names.map((n) => calls[n]));
  const signals: Record<string, unknown> = {};
  const unavailable: string[] = [];
  settled.forEach((r, i) => {
    const name = names[i]!;
    if (calls[name] === undefined) return;
    if (r.status === 'fulfilled') signals[name] = r.value;
    else {
      unavailable.push(name);
      onUnavailable?.(name, r.reason);
    }
  });
  return { signals: signals as OrderSignals, unavailable };
}

/** Runs one assessment for an already validated and authenticated order. */
export async function assess(
  up: Upstreams,
  order: Order,
  opts: AssessOptions = {},
): Promise<AssessmentAnswer> {
  // The idempotency lookup runs beside the signals, not before them: it saves a round trip on
  // every new order, and a repeated one only costs signal calls whose answers are dropped (the
  // signals are read-only, except velocity, which keeps one history row per merchant order).
  const [existing, gathered] = await Promise.all([
    opts.lookupFirst === false ? undefined : up.byOrder(order.merchantId, order.orderId),
    gatherSignals(up, order, opts.onUnavailable),
  ]);
  if (existing) return answerOf(existing);
  const { signals, unavailable } = gathered;
  const features = extractFeatures(order, signals);
  const scored = await up.score({ features });
  const reasons = [...scored.reasons, ...unavailable.map((s) => unavailableReason(s as 'identity'))];
  const decided = await up.decide({
    merchantId: order.merchantId,
    score: scored.score,
    reasons,
    amount: order.amount,
    currency: order.currency,
  });
  const stored = await up.store({
    assessmentId: (opts.newId ?? randomUUID)(),
    merchantId: order.merchantId,
    orderId: order.orderId,
    decision: decided.decision,
    score: scored.score,
    reasons: decided.reasons,
    createdAt: order.createdAt ?? new Date().toISOString(),
    features,
    modelVersion: scored.modelVersion,
    rule: decided.rule,
    unavailable,
  });
  // A retry that got past the lookup (or ran without one): audit kept the first, both get its answer.
  return answerOf(stored);
}
