/**
 * decision: POST /decide { merchantId, score, reasons, amount, currency? } -> DecisionResult, by
 * merchant policies from config (`decision_defaults__reviewAbove`, `decision_merchants__<id>__...`).
 */
import { createRequire } from 'node:module';
import { httpError, log, serve } from '../../lib/http.ts';
import type { Currency } from '../../lib/types.ts';
import { decide, resolvePolicies } from './logic.ts';

const require = createRequire(import.meta.url);
const conf = require('rc')('decision', { defaults: {}, merchants: {} }) as {
  defaults?: unknown;
  merchants?: unknown;
};
const policies = resolvePolicies(conf);
log('info', 'policies loaded', { merchants: [...policies.merchants.keys()] });

serve({
  name: 'decision',
  routes: [
    {
      method: 'POST',
      path: '/decide',
      handler: ({ body }) => {
        const b = (body ?? {}) as Record<string, unknown>;
        if (typeof b.merchantId !== 'string')
          throw httpError(400, { error: 'invalid request', field: 'merchantId' });
        if (typeof b.score !== 'number' || !(b.score >= 0 && b.score <= 1))
          throw httpError(400, { error: 'invalid request', field: 'score' });
        if (typeof b.amount !== 'number' || !Number.isFinite(b.amount))
          throw httpError(400, { error: 'invalid request', field: 'amount' });
        const reasons = Array.isArray(b.reasons)
          ? b.reasons.filter((r): r is string => typeof r === 'string')
          : [];
        return decide(policies, {
          merchantId: b.merchantId,
          score: b.score,
          reasons,
          amount: b.amount,
          ...(typeof b.currency === 'string' ? { currency: b.currency as Currency } : {}),
        });
      },
    },
  ],
});
