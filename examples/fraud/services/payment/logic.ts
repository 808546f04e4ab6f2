/**
 * Payment signals: is the card BIN plausible, where was the card issued, is it prepaid; is the IBAN
 * valid and from where. A merchant only ever sends the BIN and the last four digits, so a Luhn check
 * is impossible: the BIN is checked against the card schemes' number ranges instead. Pure.
 */
import { electronicFormatIBAN, isValidIBAN } from 'ibantools';
import type { Address, Payment, PaymentSignals } from '../../lib/types.ts';

export type CardScheme = 'visa' | 'mastercard' | 'amex';

export interface BinRange {
  /** 6 to 8 leading digits of the card number. */
  prefix: string;
  scheme: CardScheme;
  /** ISO 3166-1 alpha-2 of the issuing bank. */
  country: string;
  prepaid: boolean;
}

const r = (prefix: string, scheme: CardScheme, country: string, prepaid = false): BinRange => ({
  prefix,
  scheme,
  country,
  prepaid,
});

/**
 * A small BIN table: ranges shaped like real issuer ranges (scheme-correct prefixes, one issuing
 * country each, some prepaid), curated for the demo. The country and prepaid flags are
 * illustrative, not a licensed BIN database: the generator draws its cards from this same table
 * (`binsForCountry`), so the demo world is consistent with itself.
 */
export const BIN_TABLE: readonly BinRange[] = [
  r('410260', 'visa', 'AT'),
  r('535520', 'mastercard', 'AT'),
  r('533833', 'mastercard', 'AT', true),
  r('479260', 'visa', 'BE'),
  r('530785', 'mastercard', 'BE'),
  r('403587', 'visa', 'BE', true),
  r('498408', 'visa', 'BR'),
  r('544828', 'mastercard', 'BR'),
  r('553636', 'mastercard', 'BR', true),
  r('404159', 'visa', 'CH'),
  r('530123', 'mastercard', 'CH'),
  r('434040', 'visa', 'CH', true),
  r('436742', 'visa', 'CN'),
  r('524091', 'mastercard', 'CN'),
  r('455600', 'visa', 'DE'),
  r('520416', 'mastercard', 'DE'),
  r('492910', 'visa', 'DE'),
  r('535111', 'mastercard', 'DE', true),
  r('416574', 'visa', 'DE', true),
  r('454881', 'visa', 'ES'),
  r('540080', 'mastercard', 'ES'),
  r('489013', 'visa', 'ES', true),
  r('497010', 'visa', 'FR'),
  r('513273', 'mastercard', 'FR'),
  r('535522', 'mastercard', 'FR', true),
  r('465859', 'visa', 'GB'),
  r('539123', 'mastercard', 'GB'),
  r('374288', 'amex', 'GB'),
  r('475118', 'visa', 'GB', true),
  r('461700', 'visa', 'ID'),
  r('523981', 'mastercard', 'ID'),
  r('416021', 'visa', 'IN'),
  r('524216', 'mastercard', 'IN'),
  r('453997', 'visa', 'IT'),
  r('531306', 'mastercard', 'IT'),
  r('533317', 'mastercard', 'IT', true),
  r('418745', 'visa', 'NG'),
  r('539983', 'mastercard', 'NG'),
  r('519863', 'mastercard', 'NG', true),
  r('465942', 'visa', 'NL'),
  r('541333', 'mastercard', 'NL'),
  r('406742', 'visa', 'NL', true),
  r('438857', 'visa', 'PK'),
  r('545616', 'mastercard', 'PK'),
  r('426571', 'visa', 'PL'),
  r('535470', 'mastercard', 'PL'),
  r('557892', 'mastercard', 'PL', true),
  r('403076', 'visa', 'RO'),
  r('522183', 'mastercard', 'RO'),
  r('409421', 'visa', 'RO', true),
  r('427601', 'visa', 'RU'),
  r('546901', 'mastercard', 'RU'),
  r('532130', 'mastercard', 'RU', true),
  r('457132', 'visa', 'SE'),
  r('517730', 'mastercard', 'SE'),
  r('414949', 'visa', 'UA'),
  r('516874', 'mastercard', 'UA'),
  r('535145', 'mastercard', 'UA', true),
  r('414720', 'visa', 'US'),
  r('542418', 'mastercard', 'US'),
  r('371449', 'amex', 'US'),
  r('222300', 'mastercard', 'US'),
  r('403446', 'visa', 'US', true),
  r('530133', 'mastercard', 'US', true),
  r('427184', 'visa', 'VN'),
  r('537211', 'mastercard', 'VN'),
];

const BY_PREFIX: ReadonlyMap<string, BinRange> = new Map(BIN_TABLE.map((b) => [b.prefix, b]));

/** The countries the fallback spreads unknown BINs over (every country of the table). */
const FALLBACK_COUNTRIES: readonly string[] = [...new Set(BIN_TABLE.map((b) => b.country))].sort();

/** The scheme whose number range holds `bin` (6 to 8 digits), or null: Visa 4, Mastercard 51-55 and 2221-2720, Amex 34 and 37. */
export function binScheme(bin: string): CardScheme | null {
  if (!/^\d{6,8}$/.test(bin)) return null;
  if (bin[0] === '4') return 'visa';
  const two = Number(bin.slice(0, 2));
  if (two >= 51 && two <= 55) return 'mastercard';
  const four = Number(bin.slice(0, 4));
  if (four >= 2221 && four <= 2720) return 'mastercard';
  if (two === 34 || two === 37) return 'amex';
  return null;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export interface BinInfo extends BinRange {
  /** `table` when a curated range matched, `fallback` when the country was derived from the BIN's hash. */
  source: 'table' | 'fallback';
}

/**
 * What the BIN says about the card, or null when it is not a valid BIN. The longest curated prefix
 * wins; a valid BIN outside the table gets a deterministic fallback (country from a hash of its
 * first six digits over the table's countries, about 3% prepaid), so every valid BIN answers the
 * same way on every replica and in training.
 */
export function binInfo(bin: string): BinInfo | null {
  const scheme = binScheme(bin);
  if (!scheme) return null;
  for (let n = Math.min(8, bin.length); n >= 6; n--) {
    const hit = BY_PREFIX.get(bin.slice(0, n));
    if (hit) return { ...hit, source: 'table' };
  }
  const h = fnv1a(bin.slice(0, 6));
  return {
    prefix: bin.slice(0, 6),
    scheme,
    country: FALLBACK_COUNTRIES[h % FALLBACK_COUNTRIES.length]!,
    prepaid: (h >>> 16) % 100 < 3,
    source: 'fallback',
  };
}

/** The curated BINs issued in `country` (empty when none), for the generator to draw cards from. */
export function binsForCountry(country: string): readonly { bin: string; prepaid: boolean }[] {
  const c = country.toUpperCase();
  return BIN_TABLE.filter((b) => b.country === c).map((b) => ({ bin: b.prefix, prepaid: b.prepaid }));
}

/**
 * A random BIN that `binInfo` places in `country` (any of the table's countries): drawn from the
 * whole Visa and Mastercard space, so customers' cards spread over thousands of BINs as real ones
 * do, instead of sharing the few curated ranges (with only BIN + last four digits to tell cards
 * apart, a handful of BINs would make strangers' cards look like one). Deterministic for a given
 * `rand`; about 30 draws on average.
 */
export function sampleBinForCountry(country: string, rand: () => number, prepaid = false): string {
  const c = country.toUpperCase();
  const want = FALLBACK_COUNTRIES.indexOf(c);
  if (want < 0) throw new RangeError(`no BINs for country '${country}'`);
  // Numeric draws and the fallback's hash inlined: the seed draws hundreds of thousands of cards.
  for (;;) {
    const bin = rand() < 0.6 ? 400_000 + Math.floor(rand() * 100_000) : 510_000 + Math.floor(rand() * 50_000);
    let h = 0x811c9dc5;
    for (let d = 100_000; d >= 1; d /= 10) h = Math.imul(h ^ (48 + (Math.floor(bin / d) % 10)), 0x01000193);
    h >>>= 0;
    if (h % FALLBACK_COUNTRIES.length !== want || (h >>> 16) % 100 < 3 !== prepaid) continue;
    const text = String(bin);
    if (!BY_PREFIX.has(text)) return text;
  }
}

/** The IBAN in electronic format and its country when valid (ibantools checks length, format and check digits). */
export function ibanInfo(iban: string): { valid: boolean; country: string | null } {
  const e = electronicFormatIBAN(iban);
  if (!e || !isValidIBAN(e)) return { valid: false, country: null };
  return { valid: true, country: e.slice(0, 2) };
}

/**
 * Signals for one payment. Card fields are null unless the method is `card`, IBAN fields null unless
 * it is `iban`; invoice and pay-later carry no instrument here (credit judges them).
 *
 * Reasons: `BIN_INVALID`, `BIN_COUNTRY_MISMATCH`, `BIN_PREPAID`, `IBAN_INVALID`, `IBAN_COUNTRY_MISMATCH`.
 */
export function paymentSignals(payment: Payment, billing: Address): PaymentSignals {
  const billingCountry = billing.country.toUpperCase();
  const signals: PaymentSignals = {
    method: payment.method,
    binValid: null,
    binCountry: null,
    binCountryMatchesBilling: null,
    binPrepaid: null,
    ibanValid: null,
    ibanCountry: null,
    ibanCountryMatchesBilling: null,
    reasons: [],
  };
  if (payment.method === 'card') {
    const info = binInfo(payment.bin);
    signals.binValid = info !== null && /^\d{4}$/.test(payment.last4);
    if (!info || !signals.binValid) {
      signals.reasons.push('BIN_INVALID');
      return signals;
    }
    signals.binCountry = info.country;
    signals.binCountryMatchesBilling = info.country === billingCountry;
    signals.binPrepaid = info.prepaid;
    if (!signals.binCountryMatchesBilling) signals.reasons.push('BIN_COUNTRY_MISMATCH');
    if (info.prepaid) signals.reasons.push('BIN_PREPAID');
  } else if (payment.method === 'iban') {
    const info = ibanInfo(payment.iban);
    signals.ibanValid = info.valid;
    signals.ibanCountry = info.country;
    signals.ibanCountryMatchesBilling = info.country === null ? null : info.country === billingCountry;
    if (!info.valid) signals.reasons.push('IBAN_INVALID');
    else if (!signals.ibanCountryMatchesBilling) signals.reasons.push('IBAN_COUNTRY_MISMATCH');
  }
  return signals;
}
