/**
 * The audit service's SQL: `assessments` (one per merchant order: the unique key is the
 * idempotency the gateway relies on) and `feedback` (labels, many per assessment), in the
 * service's own schema. Every statement is a single one, retried on 40001.
 */
import type pg from 'pg';
import type { Assessment, Features } from '../../lib/types.ts';
import { settleEach, type Settled } from '../../lib/batch.ts';
import { ensureSchema, retrying } from '../../lib/db.ts';
import {
  toAssessment,
  type AssessmentRow,
  type Label,
  type NewAssessment,
  type StoredAssessment,
} from './logic.ts';

export const TABLES = [
  `CREATE TABLE IF NOT EXISTS assessments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'review', 'reject')),
    score DOUBLE PRECISION NOT NULL,
    reasons JSONB NOT NULL,
    features JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (merchant_id, order_id)
  )`,
  `CREATE TABLE IF NOT EXISTS feedback (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    assessment_id UUID NOT NULL REFERENCES assessments (id),
    label TEXT NOT NULL CHECK (label IN ('chargeback', 'confirmed-good')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
  )`,
  'CREATE INDEX IF NOT EXISTS feedback_assessment ON feedback (assessment_id, created_at)',
];

export async function ensureTables(pool: pg.Pool): Promise<void> {
  await ensureSchema(pool, TABLES);
}

const RETURNING = 'id, merchant_id, order_id, decision, score, reasons, created_at';

/**
 * Stores a new assessment, or returns the one already stored for this merchant order with
 * `existing: true` (a retried request, or two racing ones: the loser waits for the winner's row).
 */
export async function insertAssessment(
  pool: pg.Pool,
  a: NewAssessment,
): Promise<Assessment & { existing: boolean }> {
  const inserted = await retrying(() =>
    pool.query<AssessmentRow>({
      name: 'audit-insert',
      text: `INSERT INTO assessments (id, merchant_id, order_id, decision, score, reasons, features, created_at)
        VALUES (coalesce($1::uuid, gen_random_uuid()), $2, $3, $4, $5, $6::jsonb, $7::jsonb, coalesce($8::timestamptz, now()))
        ON CONFLICT (merchant_id, order_id) DO NOTHING
        RETURNING ${RETURNING}`,
      values: [
        a.assessmentId ?? null,
        a.merchantId,
        a.orderId,
        a.decision,
        a.score,
        JSON.stringify(a.reasons),
        JSON.stringify(a.features),
        a.createdAt ?? null,
      ],
    }),
  );
  if (inserted.rows[0]) return { ...toAssessment(inserted.rows[0]), existing: false };
  return storedFor(pool, a);
}

/**
 * Stores many assessments in one statement and one commit (group commit: every caller still waits
 * until its row is durable). Each item settles like `insertAssessment`: its new row, or the one
 * already stored for its merchant order with `existing: true`. If the statement fails as a whole
 * (an assessmentId already used, say), the items are stored one by one so only the bad one fails.
 * One statement text whatever the batch size (arrays through `unnest`), so it is prepared once.
 */
export async function insertAssessments(
  pool: pg.Pool,
  items: readonly NewAssessment[],
): Promise<Settled<Assessment & { existing: boolean }>[]> {
  if (items.length === 1) return settleEach(items, (a) => insertAssessment(pool, a));
  let inserted: pg.QueryResult<AssessmentRow>;
  try {
    inserted = await retrying(() =>
      pool.query<AssessmentRow>({
        name: 'audit-insert-many',
        text: `INSERT INTO assessments (id, merchant_id, order_id, decision, score, reasons, features, created_at)
          SELECT coalesce(id, gen_random_uuid()), merchant_id, order_id, decision, score, reasons::jsonb, features::jsonb, coalesce(created_at, now())
          FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::text[], $8::timestamptz[])
            AS t (id, merchant_id, order_id, decision, score, reasons, features, created_at)
          ON CONFLICT (merchant_id, order_id) DO NOTHING
          RETURNING ${RETURNING}`,
        values: [
          items.map((a) => a.assessmentId ?? null),
          items.map((a) => a.merchantId),
          items.map((a) => a.orderId),
          items.map((a) => a.decision),
          items.map((a) => a.score),
          items.map((a) => JSON.stringify(a.reasons)),
          items.map((a) => JSON.stringify(a.features)),
          items.map((a) => a.createdAt ?? null),
        ],
      }),
    );
  } catch {
    return settleEach(items, (a) => insertAssessment(pool, a));
  }
  const byOrder = new Map<string, AssessmentRow>();
  for (const row of inserted.rows) byOrder.set(orderKey(row.merchant_id, row.order_id), row);
  return settleEach(items, async (a) => {
    const key = orderKey(a.merchantId, a.orderId);
    const row = byOrder.get(key);
    // The first item of a merchant order takes the row; a second one in the same batch is a retry.
    if (row) {
      byOrder.delete(key);
      return { ...toAssessment(row), existing: false };
    }
    return storedFor(pool, a);
  });
}

const orderKey = (merchantId: string, orderId: string) => `${merchantId}\u0000${orderId}`;

/** The assessment stored for `a`'s merchant order, which a conflict says exists. */
async function storedFor(pool: pg.Pool, a: NewAssessment): Promise<Assessment & { existing: boolean }> {
  const found = await findByOrder(pool, a.merchantId, a.orderId);
  if (!found)
    throw new Error(`assessment of ${a.merchantId}/${a.orderId} conflicted but cannot be read back`);
  const { features: _features, feedback: _feedback, ...assessment } = found;
  return { ...assessment, existing: true };
}

async function withFeedback(
  pool: pg.Pool,
  row: AssessmentRow & { features: Features },
): Promise<StoredAssessment> {
  const labels = await retrying(() =>
    pool.query<{ label: Label; created_at: Date }>({
      name: 'audit-feedback-of',
      text: 'SELECT label, created_at FROM feedback WHERE assessment_id = $1 ORDER BY created_at',
      values: [row.id],
    }),
  );
  return {
    ...toAssessment(row),
    features: row.features,
    feedback: labels.rows.map((l) => ({ label: l.label, createdAt: l.created_at.toISOString() })),
  };
}

export async function findById(pool: pg.Pool, id: string): Promise<StoredAssessment | null> {
  const r = await retrying(() =>
    pool.query<AssessmentRow & { features: Features }>({
      name: 'audit-by-id',
      text: `SELECT ${RETURNING}, features FROM assessments WHERE id = $1`,
      values: [id],
    }),
  );
  return r.rows[0] ? withFeedback(pool, r.rows[0]) : null;
}

export async function findByOrder(
  pool: pg.Pool,
  merchantId: string,
  orderId: string,
): Promise<StoredAssessment | null> {
  const r = await retrying(() =>
    pool.query<AssessmentRow & { features: Features }>({
      name: 'audit-by-order',
      text: `SELECT ${RETURNING}, features FROM assessments WHERE merchant_id = $1 AND order_id = $2`,
      values: [merchantId, orderId],
    }),
  );
  return r.rows[0] ? withFeedback(pool, r.rows[0]) : null;
}

/** Records a label; null when there is no such assessment. */
export async function insertFeedback(
  pool: pg.Pool,
  assessmentId: string,
  label: Label,
): Promise<{ feedbackId: string; assessmentId: string; label: Label; createdAt: string } | null> {
  const r = await retrying(() =>
    pool.query<{ id: string; created_at: Date }>({
      name: 'audit-feedback',
      text: 'INSERT INTO feedback (assessment_id, label) SELECT id, $2 FROM assessments WHERE id = $1 RETURNING id, created_at',
      values: [assessmentId, label],
    }),
  );
  const row = r.rows[0];
  return row ? { feedbackId: row.id, assessmentId, label, createdAt: row.created_at.toISOString() } : null;
}
