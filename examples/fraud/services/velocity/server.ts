/**
 * velocity: POST /check { order } -> VelocitySignals, then the order joins the history. On the
 * database network; seeds its history once (config `seed.orders`) before /healthz turns ready.
 */
import { createRequire } from 'node:module';
import { historicalOrders } from '../../db/seed.ts';
import { coalesce, type Settled } from '../../lib/batch.ts';
import { createPool } from '../../lib/db.ts';
import { httpError, log, serve } from '../../lib/http.ts';
import type { Order } from '../../lib/types.ts';
import { resolveVelocityConfig } from './config.ts';
import { assembleSignals, normaliseKeys, type OrderAggregates, type OrderKeys } from './logic.ts';
import { checkAndRecordMany, ensureTables, seedIfEmpty } from './store.ts';

const require = createRequire(import.meta.url);
const config = resolveVelocityConfig(require('rc')('velocity', {}));
const pool = createPool({
  max: config.pool.max,
  applicationName: 'velocity',
  // The history is a risk signal, not a ledger: losing the last few orders in a crash is
  // acceptable, waiting for a WAL flush on every order is not. Best effort: CockroachDB may refuse.
  onConnect: async (client) => {
    await client.query('SET synchronous_commit TO off').catch(() => undefined);
    await client.query('SET plan_cache_mode TO force_generic_plan').catch(() => undefined);
  },
});
let ready = false;

// Orders that arrive while a check is in flight are checked together by the next one: one
// statement for the batch (store.ts), which is what a burst of traffic needs.
const check = coalesce(
  async (batch: OrderKeys[]): Promise<Settled<OrderAggregates>[]> =>
    (await checkAndRecordMany(pool, batch)).map((value) => ({ ok: true, value })),
  { ...config.batch, traced: 'lead', name: 'velocity-check' },
);

// The fields velocity reads; the gateway validated the rest. The first one wrong is reported.
const REQUIRED: readonly [string, (o: Record<string, any>) => boolean][] = [
  ['order.merchantId', (o) => typeof o.merchantId === 'string'],
  ['order.orderId', (o) => typeof o.orderId === 'string'],
  ['order.amount', (o) => typeof o.amount === 'number'],
  ['order.currency', (o) => typeof o.currency === 'string'],
  ['order.customer.email', (o) => typeof o.customer?.email === 'string'],
  ['order.deviceId', (o) => typeof o.deviceId === 'string'],
  ['order.ipAddress', (o) => typeof o.ipAddress === 'string'],
  [
    'order.shippingAddress',
    (o) => ['country', 'line1', 'postalCode'].every((k) => typeof o.shippingAddress?.[k] === 'string'),
  ],
  ['order.payment', (o) => typeof o.payment?.method === 'string'],
  [
    'order.payment.bin',
    (o) =>
      o.payment.method !== 'card' ||
      (typeof o.payment.bin === 'string' && typeof o.payment.last4 === 'string'),
  ],
];

function parseOrder(body: unknown): Order {
  const order = (body as { order?: Record<string, any> } | undefined)?.order;
  if (!order || typeof order !== 'object') throw httpError(400, { error: 'invalid request', field: 'order' });
  const wrong = REQUIRED.find(([, ok]) => !ok(order));
  if (wrong) throw httpError(400, { error: 'invalid request', field: wrong[0] });
  return order as Order;
}

serve({
  name: 'velocity',
  ready: () => ready,
  onClose: () => pool.end(),
  routes: [
    {
      method: 'POST',
      path: '/check',
      handler: async ({ body }) => {
        if (!ready) throw httpError(503, { error: 'seeding the order history' });
        const keys = normaliseKeys(parseOrder(body));
        return assembleSignals(keys, await check(keys), config.thresholds);
      },
    },
  ],
});

// The database may come up after us: keep trying, the health check reports not-ready meanwhile.
for (let attempt = 1; ; attempt++) {
  try {
    await ensureTables(pool);
    break;
  } catch (error) {
    log('warn', 'database not reachable yet', { attempt, error: (error as Error).message });
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
  }
}
const now = Date.now();
log('info', 'seeding the order history if empty', { orders: config.seed.orders });
const seed = await seedIfEmpty(pool, {
  rows: () => historicalOrders(config.seed.orders, config.seed.seed, now),
  expected: config.seed.orders,
  onPhase: (phase, ms) => log('info', `seed ${phase}`, { ms }),
});
log('info', 'ready', { seeded: seed.seeded, ms: seed.ms });
ready = true;
