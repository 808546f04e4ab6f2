/**
 * Audit: every assessment with the features it was made from and its decision, and the feedback
 * labels that later confirm or refute it (the next model's training data). Pure request
 * validation and row mapping; SQL lives in store.ts.
 */
import type { Assessment, Decision, Features } from '../../lib/types.ts';

export const DECISIONS: readonly Decision[] = ['accept', 'review', 'reject'];
export const LABELS = ['chargeback', 'confirmed-good'] as const;
export type Label = (typeof LABELS)[number];

export interface NewAssessment {
  /** Set by the gateway when it wants the id before the row exists; generated otherwise. */
  assessmentId?: string;
  merchantId: string;
  orderId: string;
  decision: Decision;
  score: number;
  reasons: string[];
  features: Features;
  createdAt?: string;
}

export interface StoredAssessment extends Assessment {
  features: Features;
  feedback: { label: Label; createdAt: string }[];
}

/** A request field that failed validation: the server answers 400 with it. */
export class FieldError extends Error {
  constructor(readonly field: string) {
    super(`invalid ${field}`);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

const text = (v: unknown, max: number) => typeof v === 'string' && v.length > 0 && v.length <= max;

/** POST /assessments body, checked field by field (the first bad field throws a FieldError). */
export function parseNewAssessment(body: unknown): NewAssessment {
  const b = (body ?? {}) as Record<string, unknown>;
  if (b.assessmentId !== undefined && !isUuid(b.assessmentId)) throw new FieldError('assessmentId');
  if (!text(b.merchantId, 200)) throw new FieldError('merchantId');
  if (!text(b.orderId, 200)) throw new FieldError('orderId');
  if (!DECISIONS.includes(b.decision as Decision)) throw new FieldError('decision');
  if (typeof b.score !== 'number' || !Number.isFinite(b.score) || b.score < 0 || b.score > 1)
    throw new FieldError('score');
  if (!Array.isArray(b.reasons) || !b.reasons.every((r) => text(r, 100))) throw new FieldError('reasons');
  const features = b.features as Record<string, unknown> | undefined;
  if (
    !features ||
    typeof features !== 'object' ||
    Array.isArray(features) ||
    !Object.values(features).every((v) => typeof v === 'number' && Number.isFinite(v))
  ) {
    throw new FieldError('features');
  }
  if (
    b.createdAt !== undefined &&
    (typeof b.createdAt !== 'string' || !Number.isFinite(Date.parse(b.createdAt)))
  )
    throw new FieldError('createdAt');
  return {
    ...(b.assessmentId !== undefined ? { assessmentId: (b.assessmentId as string).toLowerCase() } : {}),
    merchantId: b.merchantId as string,
    orderId: b.orderId as string,
    decision: b.decision as Decision,
    score: b.score,
    reasons: b.reasons as string[],
    features: features as Features,
    ...(b.createdAt !== undefined ? { createdAt: new Date(b.createdAt as string).toISOString() } : {}),
  };
}

/** POST /feedback body. A malformed id is no known assessment: the caller gets 404, as for an unknown one. */
export function parseFeedback(body: unknown): { assessmentId: string | null; label: Label } {
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b.assessmentId !== 'string') throw new FieldError('assessmentId');
  if (!LABELS.includes(b.label as Label)) throw new FieldError('label');
  return {
    assessmentId: isUuid(b.assessmentId) ? b.assessmentId.toLowerCase() : null,
    label: b.label as Label,
  };
}

export interface AssessmentRow {
  id: string;
  merchant_id: string;
  order_id: string;
  decision: Decision;
  score: number | string;
  reasons: string[];
  created_at: Date;
}

export function toAssessment(row: AssessmentRow): Assessment {
  return {
    assessmentId: row.id,
    merchantId: row.merchant_id,
    orderId: row.order_id,
    decision: row.decision,
    // DOUBLE PRECISION arrives as a number from PostgreSQL; CockroachDB's FLOAT8 as well, but be safe.
    score: Number(row.score),
    reasons: row.reasons,
    createdAt: row.created_at.toISOString(),
  };
}
