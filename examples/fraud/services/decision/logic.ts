/**
 * Decision: turns a score and reason codes into accept, review or reject, by the merchant's own
 * policy (thresholds, an amount cap, reason codes that always send an order to review or reject).
 * Policies come from config the rc way; values from the environment arrive as strings, so
 * `resolvePolicies` coerces them once at start and requests never parse config.
 */
import type { Currency, DecisionResult, ReasonCode } from '../../lib/types.ts';
import { EUR_PER_UNIT } from '../../model/features.ts';

export interface Policy {
  /** Score at or above which the order is rejected. */
  rejectAbove: number;
  /** Score at or above which the order goes to manual review. */
  reviewAbove: number;
  /** Orders above this value (EUR) go to review whatever the score; 0 = no cap. */
  maxAmountEur: number;
  alwaysReview: readonly ReasonCode[];
  alwaysReject: readonly ReasonCode[];
}

export const DEFAULT_POLICY: Policy = {
  rejectAbove: 0.8,
  reviewAbove: 0.4,
  maxAmountEur: 0,
  alwaysReview: [],
  alwaysReject: [],
};

export interface Policies {
  defaults: Policy;
  merchants: ReadonlyMap<string, Policy>;
}

function num(value: unknown, fallback: number, field: string): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`decision config: ${field} must be a non-negative number, got ${JSON.stringify(value)}`);
  return n;
}

/** A list from config: a real array, a JSON array string (how rc passes lists) or `A,B`. */
function list(value: unknown, fallback: readonly string[]): readonly string[] {
  if (value === undefined || value === null || value === '') return fallback;
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string') {
    const text = value.trim();
    if (text.startsWith('[')) return (JSON.parse(text) as unknown[]).map(String);
    return text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }
  return fallback;
}

function policyFrom(raw: Record<string, unknown> | undefined, base: Policy, where: string): Policy {
  const r = raw ?? {};
  const p: Policy = {
    rejectAbove: num(r.rejectAbove, base.rejectAbove, `${where}.rejectAbove`),
    reviewAbove: num(r.reviewAbove, base.reviewAbove, `${where}.reviewAbove`),
    maxAmountEur: num(r.maxAmountEur, base.maxAmountEur, `${where}.maxAmountEur`),
    alwaysReview: list(r.alwaysReview, base.alwaysReview),
    alwaysReject: list(r.alwaysReject, base.alwaysReject),
  };
  if (p.reviewAbove > p.rejectAbove)
    throw new Error(`decision config: ${where}.reviewAbove must not exceed rejectAbove`);
  return p;
}

/** `{ defaults: {...}, merchants: { <id>: {...} } }` (rc's shape) into checked policies. */
export function resolvePolicies(conf: { defaults?: unknown; merchants?: unknown }): Policies {
  const defaults = policyFrom(
    conf.defaults as Record<string, unknown> | undefined,
    DEFAULT_POLICY,
    'defaults',
  );
  const merchants = new Map<string, Policy>();
  for (const [id, raw] of Object.entries((conf.merchants ?? {}) as Record<string, Record<string, unknown>>)) {
    merchants.set(id, policyFrom(raw, defaults, `merchants.${id}`));
  }
  return { defaults, merchants };
}

export interface DecideInput {
  merchantId: string;
  score: number;
  reasons: readonly ReasonCode[];
  /** Minor units of `currency`. */
  amount: number;
  /** @default EUR */
  currency?: Currency;
}

/**
 * The first rule that applies wins: always-reject codes, the reject threshold, always-review codes,
 * the amount cap, the review threshold; otherwise accept.
 */
export function decide(policies: Policies, input: DecideInput): DecisionResult {
  const p = policies.merchants.get(input.merchantId) ?? policies.defaults;
  const reasons = [...input.reasons];
  const hit = (codes: readonly string[]) => codes.find((c) => reasons.includes(c));
  const rejectCode = hit(p.alwaysReject);
  if (rejectCode) return { decision: 'reject', rule: `rule.always-reject.${rejectCode}`, reasons };
  if (input.score >= p.rejectAbove) return { decision: 'reject', rule: 'threshold.reject', reasons };
  const reviewCode = hit(p.alwaysReview);
  if (reviewCode) return { decision: 'review', rule: `rule.always-review.${reviewCode}`, reasons };
  const eur = (input.amount / 100) * (EUR_PER_UNIT[input.currency ?? 'EUR'] ?? 1);
  if (p.maxAmountEur > 0 && eur > p.maxAmountEur) {
    return { decision: 'review', rule: 'rule.amount-cap', reasons: [...reasons, 'AMOUNT_OVER_MERCHANT_CAP'] };
  }
  if (input.score >= p.reviewAbove) return { decision: 'review', rule: 'threshold.review', reasons };
  return { decision: 'accept', rule: 'threshold.accept', reasons };
}
