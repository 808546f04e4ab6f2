/**
 * What the credit service answers, computed offline for training: the same bureau (persons
 * 0..persons-1 of the shared population, `bureauPerson`), the same key and the same decision
 * rules. Only the coarse decision leaves this module, as only it leaves the service.
 */
import type { CreditSignals, Order } from '../lib/types.ts';
import {
  bureauPerson,
  creditDecision,
  personKey,
  toEurCents,
  type BureauRecord,
} from '../services/credit/logic.ts';

export type CreditOracle = (order: Order) => CreditSignals;

/** A lookup over the first `persons` bureau files (~5 µs each to build). */
export function offlineCredit(persons: number): CreditOracle {
  const files = new Map<string, BureauRecord>();
  for (let i = 0; i < persons; i++) {
    const p = bureauPerson(i);
    files.set(personKey(p.name, p.dateOfBirth, p.address.postalCode), p.record);
  }
  return (order) => {
    const dob = order.customer.dateOfBirth;
    // As the service: without a date of birth namesakes cannot be told apart.
    if (!dob) return { decision: 'unknown', reasons: ['CREDIT_DOB_MISSING'] };
    const record = files.get(personKey(order.customer.name, dob, order.billingAddress.postalCode)) ?? null;
    return creditDecision(record, toEurCents(order.amount, order.currency));
  };
}
