/**
 * Credit: for invoice and pay-later orders, would the bureau's payment history back this amount?
 * The service reads raw bureau records (data class `credit-bureau`) and answers only a coarse
 * decision (`credit-decision`): the records never leave it. Pure.
 */
import { hash } from 'node:crypto';
import { resolveNumbers } from '../../db/config.ts';
import { bureauPerson, type BureauRecord } from '../../db/bureau.ts';
import type { Currency, CreditSignals } from '../../lib/types.ts';

export { bureauPerson, bureauRecord, type BureauPerson, type BureauRecord } from '../../db/bureau.ts';

/** Rough FX to EUR: the same table as velocity's and the generator's. */
export const EUR_PER_UNIT: Readonly<Record<Currency, number>> = {
  EUR: 1,
  USD: 0.92,
  GBP: 1.17,
  CHF: 1.04,
  SEK: 0.088,
  PLN: 0.23,
};

export function toEurCents(amount: number, currency: Currency): number {
  return Math.round(amount * (EUR_PER_UNIT[currency] ?? 1));
}

/** Letters and digits of each name part, accents dropped, parts sorted: "Müller, Anna" = "anna muller". */
export function normaliseName(name: string): string {
  return name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/ß/g, 'ss')
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .sort()
    .join(' ');
}

/** The bureau's key for a person: SHA-256 hex of the normalised name, date of birth and postal code. */
export function personKey(name: string, dateOfBirth: string, postalCode: string): string {
  const postal = postalCode.toUpperCase().replace(/[^A-Z0-9]/g, '');
  return hash('sha256', `${normaliseName(name)}|${dateOfBirth.trim()}|${postal}`, 'hex');
}

/**
 * The bureau files of persons `0 … persons-1` by key, as the service's table holds them. Two
 * persons may share name, birthday and postal code; the bureau cannot tell them apart either, and
 * the first file wins.
 */
export function* bureauFiles(persons: number): Generator<[key: string, record: BureauRecord]> {
  const seen = new Set<string>();
  for (let i = 0; i < persons; i++) {
    const p = bureauPerson(i);
    const key = personKey(p.name, p.dateOfBirth, p.address.postalCode);
    if (seen.has(key)) continue;
    seen.add(key);
    yield [key, p.record];
  }
}

/** Decision rules; amounts in EUR cents. */
export interface CreditRules {
  /** `poor` at this many defaults in 36 months. @default 2 */
  poorDefaults: number;
  /** `poor` at this many late payments in 12 months. @default 6 */
  poorLatePayments: number;
  /** `limited` at this many late payments. @default 3 */
  limitedLatePayments: number;
  /** `limited` at this many applications in 6 months. @default 5 */
  manyInquiries: number;
  /** `limited` below this file age. @default 12 */
  thinFileMonths: number;
  /** Largest amount a clean file is `good` for. @default 150000 (EUR 1,500) */
  maxAmountGood: number;
  /** With one default, larger amounts are `poor` rather than `limited`. @default 20000 (EUR 200) */
  maxAmountWithDefault: number;
}

export const DEFAULT_CREDIT_RULES: CreditRules = {
  poorDefaults: 2,
  poorLatePayments: 6,
  limitedLatePayments: 3,
  manyInquiries: 5,
  thinFileMonths: 12,
  maxAmountGood: 150_000,
  maxAmountWithDefault: 20_000,
};

/**
 * The coarse decision for an amount (EUR cents) given a person's file, or `unknown` without one.
 * `poor` reasons win over `limited` ones; `good` has none.
 *
 * Reasons: `CREDIT_NO_FILE`, `CREDIT_DEFAULTS`, `CREDIT_LATE_PAYMENTS`, `CREDIT_MANY_INQUIRIES`,
 * `CREDIT_THIN_FILE`, `CREDIT_AMOUNT_HIGH`.
 */
export function creditDecision(
  record: BureauRecord | null,
  amount: number,
  rules: CreditRules = DEFAULT_CREDIT_RULES,
): CreditSignals {
  if (!record) return { decision: 'unknown', reasons: ['CREDIT_NO_FILE'] };
  // One default is forgiven for small amounts only.
  const defaultTooLarge = record.defaults36m > 0 && amount > rules.maxAmountWithDefault;
  const poor: string[] = [];
  if (record.defaults36m >= rules.poorDefaults || defaultTooLarge) poor.push('CREDIT_DEFAULTS');
  if (record.latePayments12m >= rules.poorLatePayments) poor.push('CREDIT_LATE_PAYMENTS');
  if (defaultTooLarge) poor.push('CREDIT_AMOUNT_HIGH');
  if (poor.length > 0) return { decision: 'poor', reasons: poor };
  const limited: string[] = [];
  if (record.defaults36m > 0) limited.push('CREDIT_DEFAULTS');
  if (record.latePayments12m >= rules.limitedLatePayments) limited.push('CREDIT_LATE_PAYMENTS');
  if (record.inquiries6m >= rules.manyInquiries) limited.push('CREDIT_MANY_INQUIRIES');
  if (record.monthsOnFile < rules.thinFileMonths) limited.push('CREDIT_THIN_FILE');
  if (amount > rules.maxAmountGood) limited.push('CREDIT_AMOUNT_HIGH');
  return limited.length > 0 ? { decision: 'limited', reasons: limited } : { decision: 'good', reasons: [] };
}

export interface CreditConfig {
  rules: CreditRules;
  seed: {
    /** Bureau files loaded into an empty database at start. @default 200000 */
    persons: number;
  };
  /** @default { max: 4 } */
  pool: { max: number };
}

export const CREDIT_DEFAULTS: CreditConfig = {
  rules: DEFAULT_CREDIT_RULES,
  seed: { persons: 200_000 },
  pool: { max: 4 },
};

/** rc config of app `credit` (env e.g. `credit_rules__maxAmountGood=100000`), numbers coerced. */
export function resolveCreditConfig(raw: unknown): CreditConfig {
  return resolveNumbers(CREDIT_DEFAULTS, raw);
}
