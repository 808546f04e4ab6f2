/**
 * Every signal of an order computed in-process, with the signal services' own pure functions:
 * what the running stack would answer, without the network. Training and the held-out evaluation
 * use it; velocity comes from an in-memory `VelocityIndex` fed with the orders in time order, as
 * the velocity service's table is.
 */
import { createRequire } from 'node:module';
import type { Order } from '../lib/types.ts';
import type { CreditOracle } from './credit.ts';
import type { OrderSignals } from './features.ts';
import { geoSignals, type IpLookup } from '../services/geo/logic.ts';
import { identitySignals } from '../services/identity/logic.ts';
import { paymentSignals } from '../services/payment/logic.ts';
import { normaliseKeys, VelocityIndex, type OrderKeys } from '../services/velocity/logic.ts';

const require = createRequire(import.meta.url);

let geoLookup: IpLookup | undefined;

/** The geo service's lookup: the GeoLite2 country data shipped in geoip-country (read once). */
export function realIpLookup(): IpLookup {
  if (!geoLookup) {
    const geoip = require('geoip-country') as { lookup(ip: string): { country?: string } | null };
    geoLookup = (ip) => geoip.lookup(ip)?.country ?? null;
  }
  return geoLookup;
}

export interface SignalComputer {
  /** The signals of `order`, then records it in the velocity history (as POST /check does). */
  next(order: Order): OrderSignals;
  /** Loads history rows, as the velocity service's seed does. */
  seedHistory(rows: Iterable<OrderKeys>): number;
}

export function createSignalComputer(
  opts: { lookup?: IpLookup; credit?: CreditOracle } = {},
): SignalComputer {
  const lookup = opts.lookup ?? realIpLookup();
  // Without a bureau every file is missing, as with an empty credit database.
  const credit: CreditOracle = opts.credit ?? (() => ({ decision: 'unknown', reasons: ['CREDIT_NO_FILE'] }));
  const velocity = new VelocityIndex();
  return {
    next(order) {
      const bnpl = order.payment.method === 'invoice' || order.payment.method === 'paylater';
      return {
        identity: identitySignals(order.customer, order.billingAddress),
        geo: geoSignals(order.ipAddress, order.billingAddress, order.shippingAddress, lookup),
        payment: paymentSignals(order.payment, order.billingAddress),
        velocity: velocity.check(normaliseKeys(order)),
        ...(bnpl ? { credit: credit(order) } : {}),
      };
    },
    seedHistory(rows) {
      let n = 0;
      for (const r of rows) {
        velocity.add(r);
        n++;
      }
      return n;
    },
  };
}
