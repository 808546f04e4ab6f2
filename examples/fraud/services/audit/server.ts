/**
 * audit: POST /assessments, GET /assessments/:id, GET /assessments/by-order?merchantId=&orderId=,
 * POST /feedback. On the database network; nothing to seed.
 */
import { createRequire } from 'node:module';
import { resolveNumbers } from '../../db/config.ts';
import { coalesce } from '../../lib/batch.ts';
import { createPool } from '../../lib/db.ts';
import { httpError, log, serve } from '../../lib/http.ts';
import { FieldError, isUuid, parseFeedback, parseNewAssessment, type NewAssessment } from './logic.ts';
import { ensureTables, findById, findByOrder, insertAssessments, insertFeedback } from './store.ts';

const require = createRequire(import.meta.url);
const config = resolveNumbers(
  { pool: { max: 8 }, batch: { maxBatch: 256, maxConcurrent: 2 } },
  require('rc')('audit', {}),
);
const pool = createPool({ max: config.pool.max, applicationName: 'audit' });
// Group commit: assessments that arrive while a write is in flight are stored together by the
// next one, one statement and one WAL flush for all of them; each caller still waits for its row.
const store = coalesce((items: NewAssessment[]) => insertAssessments(pool, items), {
  ...config.batch,
  traced: 'lead',
  name: 'audit-insert',
});
let ready = false;

/** Runs a parser, turning its FieldError into a field-level 400 (and any request before the tables exist into 503). */
function parsed<T>(parse: () => T): T {
  if (!ready) throw httpError(503, { error: 'starting' });
  try {
    return parse();
  } catch (error) {
    if (error instanceof FieldError) throw httpError(400, { error: 'invalid request', field: error.field });
    throw error;
  }
}

const notFound = () => httpError(404, { error: 'no such assessment' });

serve({
  name: 'audit',
  ready: () => ready,
  onClose: () => pool.end(),
  routes: [
    {
      method: 'POST',
      path: '/assessments',
      handler: async ({ body }) => {
        try {
          return await store(parsed(() => parseNewAssessment(body)));
        } catch (error) {
          // The caller chose an assessmentId that another order already has.
          if ((error as { code?: string }).code === '23505')
            throw httpError(409, { error: 'assessmentId already used', field: 'assessmentId' });
          throw error;
        }
      },
    },
    // Before /assessments/:id, which would otherwise take `by-order` for an id.
    {
      method: 'GET',
      path: '/assessments/by-order',
      handler: async ({ query }) => {
        if (!ready) throw httpError(503, { error: 'starting' });
        const merchantId = query.get('merchantId');
        const orderId = query.get('orderId');
        if (!merchantId) throw httpError(400, { error: 'invalid request', field: 'merchantId' });
        if (!orderId) throw httpError(400, { error: 'invalid request', field: 'orderId' });
        const found = await findByOrder(pool, merchantId, orderId);
        if (!found) throw notFound();
        return found;
      },
    },
    {
      method: 'GET',
      path: '/assessments/:id',
      handler: async ({ params }) => {
        if (!ready) throw httpError(503, { error: 'starting' });
        const id = params.id ?? '';
        const found = isUuid(id) ? await findById(pool, id.toLowerCase()) : null;
        if (!found) throw notFound();
        return found;
      },
    },
    {
      method: 'POST',
      path: '/feedback',
      handler: async ({ body }) => {
        const { assessmentId, label } = parsed(() => parseFeedback(body));
        const stored = assessmentId ? await insertFeedback(pool, assessmentId, label) : null;
        if (!stored) throw notFound();
        return stored;
      },
    },
  ],
});

for (let attempt = 1; ; attempt++) {
  try {
    await ensureTables(pool);
    break;
  } catch (error) {
    log('warn', 'database not ready yet', { attempt, error: (error as Error).message });
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
  }
}
log('info', 'ready');
ready = true;
