/**
 * Credit signals offline: what the credit service would answer for an order, for training.
 */
import type { CreditSignals, Order } from '../lib/types.ts';

export function creditSignalsOffline(_order: Order): CreditSignals {
  return { decision: 'unknown', reasons: ['CREDIT_NO_RECORD'] };
}
