/**
 * credit: POST /check { customer: { name, dateOfBirth? }, billingAddress, amount, currency }
 * -> CreditSignals. The only reader of the bureau data (data class `credit-bureau`); it answers a
 * coarse decision and never the records. It must never receive device, IP, email or velocity data.
 */
import { createRequire } from 'node:module';
import { coalesce, type Settled } from '../../lib/batch.ts';
import { createPool } from '../../lib/db.ts';
import { httpError, log, serve } from '../../lib/http.ts';
import type { Currency } from '../../lib/types.ts';
import type { BureauRecord } from '../../db/bureau.ts';
import { EUR_PER_UNIT, creditDecision, personKey, resolveCreditConfig, toEurCents } from './logic.ts';
import { ensureBureau, findRecords } from './store.ts';

const require = createRequire(import.meta.url);
const config = resolveCreditConfig(require('rc')('credit', {}));
const pool = createPool({ max: config.pool.max, applicationName: 'credit' });
let ready = false;

// Checks that arrive while a lookup is in flight are looked up together by the next one: one
// statement for the batch.
const lookup = coalesce(
  async (keys: string[]): Promise<Settled<BureauRecord | null>[]> =>
    (await findRecords(pool, keys)).map((value) => ({ ok: true, value })),
  { maxBatch: 64, maxConcurrent: 2, traced: 'lead', name: 'credit-records' },
);

interface CreditRequest {
  name: string;
  dateOfBirth: string | undefined;
  postalCode: string;
  amount: number;
  currency: Currency;
}

function parse(body: unknown): CreditRequest {
  const b = (body ?? {}) as Record<string, any>;
  const bad = (field: string) => httpError(400, { error: 'invalid request', field });
  if (typeof b.customer?.name !== 'string') throw bad('customer.name');
  if (b.customer.dateOfBirth !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(String(b.customer.dateOfBirth)))
    throw bad('customer.dateOfBirth');
  if (typeof b.billingAddress?.postalCode !== 'string') throw bad('billingAddress.postalCode');
  if (typeof b.amount !== 'number' || !Number.isFinite(b.amount) || b.amount < 0) throw bad('amount');
  if (typeof b.currency !== 'string' || !Object.hasOwn(EUR_PER_UNIT, b.currency)) throw bad('currency');
  return {
    name: b.customer.name,
    dateOfBirth: b.customer.dateOfBirth,
    postalCode: b.billingAddress.postalCode,
    amount: b.amount,
    currency: b.currency as Currency,
  };
}

serve({
  name: 'credit',
  ready: () => ready,
  onClose: () => pool.end(),
  routes: [
    {
      method: 'POST',
      path: '/check',
      handler: async ({ body }) => {
        if (!ready) throw httpError(503, { error: 'loading the bureau data' });
        const r = parse(body);
        // Without a date of birth the bureau cannot tell namesakes apart: no answer beats a wrong one.
        if (!r.dateOfBirth) return { decision: 'unknown', reasons: ['CREDIT_DOB_MISSING'] };
        const record = await lookup(personKey(r.name, r.dateOfBirth, r.postalCode));
        return creditDecision(record, toEurCents(r.amount, r.currency), config.rules);
      },
    },
  ],
});

for (let attempt = 1; ; attempt++) {
  try {
    const started = performance.now();
    const seeded = await ensureBureau(pool, config.seed.persons);
    log('info', 'ready', { seeded, ms: Math.round(performance.now() - started) });
    break;
  } catch (error) {
    log('warn', 'database not ready yet', { attempt, error: (error as Error).message });
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
  }
}
ready = true;
