/**
 * The one place that turns an order and its signals into the model's numeric features. Training
 * (train.ts) and the running stack (the gateway, before it calls scoring) both call
 * `extractFeatures`, so the model sees in production exactly what it was trained on.
 *
 * Every feature is oriented so that a larger value is the riskier reading where that has a
 * meaning (a mismatch is 1, a match 0), which keeps reason codes readable. A signal that is
 * missing (its service timed out) leaves its features out; the scoring service puts the training
 * mean in their place, so a missing signal neither raises nor lowers the score.
 */
import type {
  CreditSignals,
  Currency,
  Features,
  GeoSignals,
  IdentitySignals,
  Order,
  PaymentSignals,
  VelocitySignals,
  VelocityWindow,
} from '../lib/types.ts';

export interface OrderSignals {
  identity?: IdentitySignals;
  geo?: GeoSignals;
  payment?: PaymentSignals;
  velocity?: VelocitySignals;
  /** Only for invoice and pay-later orders. */
  credit?: CreditSignals;
}

/** Rough FX to EUR, so amounts compare across currencies. */
export const EUR_PER_UNIT: Readonly<Record<Currency, number>> = {
  EUR: 1,
  USD: 0.92,
  GBP: 1.17,
  CHF: 1.04,
  SEK: 0.088,
  PLN: 0.23,
};

/** Which signal service each feature comes from (`order` features are always present). */
export const FEATURE_SOURCES = {
  amount_eur_log: 'order',
  amount_small: 'order',
  method_card: 'order',
  method_iban: 'order',
  method_invoice: 'order',
  method_paylater: 'order',
  no_date_of_birth: 'order',
  shipping_address_differs: 'order',
  shipping_country_differs: 'order',
  email_invalid: 'identity',
  email_disposable: 'identity',
  email_freemail: 'identity',
  name_email_mismatch: 'identity',
  phone_invalid: 'identity',
  phone_country_mismatch: 'identity',
  ip_country_unknown: 'geo',
  ip_billing_mismatch: 'geo',
  ip_shipping_mismatch: 'geo',
  billing_shipping_distance_log: 'geo',
  bin_invalid: 'payment',
  bin_country_mismatch: 'payment',
  bin_prepaid: 'payment',
  iban_invalid: 'payment',
  iban_country_mismatch: 'payment',
  vel_card_1h: 'velocity',
  vel_card_24h: 'velocity',
  vel_email_1h: 'velocity',
  vel_email_24h: 'velocity',
  vel_device_1h: 'velocity',
  vel_device_24h: 'velocity',
  vel_device_amount_24h_log: 'velocity',
  vel_ip_1h: 'velocity',
  vel_ip_24h: 'velocity',
  vel_address_24h: 'velocity',
  vel_address_30d: 'velocity',
  cards_per_email_24h: 'velocity',
  emails_per_device_30d: 'velocity',
  new_device: 'velocity',
  new_email: 'velocity',
  known_email_new_device: 'velocity',
  new_device_ships_elsewhere: 'velocity',
  credit_poor: 'credit',
  credit_limited: 'credit',
  credit_unknown: 'credit',
} as const;

export type FeatureName = keyof typeof FEATURE_SOURCES;
export type SignalSource = (typeof FEATURE_SOURCES)[FeatureName];

/** Feature names in a fixed order: the order of the weights file's arrays. */
export const FEATURE_NAMES = Object.keys(FEATURE_SOURCES) as readonly FeatureName[];

const b = (x: boolean | null | undefined): number => (x ? 1 : 0);
/** A "does not match" flag from a nullable "matches" flag: unknown counts as no mismatch. */
const mismatch = (matches: boolean | null): number => (matches === false ? 1 : 0);
const log1 = (x: number): number => Math.log1p(Math.max(0, x));
const count = (w: VelocityWindow | undefined): number => log1(w?.count ?? 0);

function sameAddress(a: Order['billingAddress'], z: Order['shippingAddress']): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/\s+/g, ' ').trim();
  return (
    norm(a.line1) === norm(z.line1) &&
    norm(a.postalCode) === norm(z.postalCode) &&
    norm(a.city) === norm(z.city) &&
    a.country === z.country
  );
}

/** The order's features; features of a missing signal are left out. */
export function extractFeatures(order: Order, signals: OrderSignals): Features {
  const eur = (order.amount / 100) * (EUR_PER_UNIT[order.currency] ?? 1);
  const method = order.payment.method;
  const shipsElsewhere = !sameAddress(order.billingAddress, order.shippingAddress);
  const f: Features = {
    amount_eur_log: log1(eur),
    amount_small: eur < 10 ? 1 : 0,
    method_card: b(method === 'card'),
    method_iban: b(method === 'iban'),
    method_invoice: b(method === 'invoice'),
    method_paylater: b(method === 'paylater'),
    no_date_of_birth: b(!order.customer.dateOfBirth),
    shipping_address_differs: b(shipsElsewhere),
    shipping_country_differs: b(order.billingAddress.country !== order.shippingAddress.country),
  };
  const { identity, geo, payment, velocity, credit } = signals;
  if (identity) {
    f.email_invalid = b(!identity.emailValid);
    f.email_disposable = b(identity.emailDisposable);
    f.email_freemail = b(identity.emailFreeMail);
    f.name_email_mismatch = 1 - Math.min(1, Math.max(0, identity.nameEmailSimilarity));
    f.phone_invalid = b(!identity.phoneValid);
    f.phone_country_mismatch = mismatch(identity.phoneCountryMatchesBilling);
  }
  if (geo) {
    f.ip_country_unknown = b(geo.ipCountry === null);
    f.ip_billing_mismatch = mismatch(geo.ipCountryMatchesBilling);
    f.ip_shipping_mismatch = mismatch(geo.ipCountryMatchesShipping);
    f.billing_shipping_distance_log = log1((geo.billingShippingDistanceKm ?? 0) / 100);
  }
  if (payment) {
    f.bin_invalid = b(payment.binValid === false);
    f.bin_country_mismatch = mismatch(payment.binCountryMatchesBilling);
    f.bin_prepaid = b(payment.binPrepaid);
    f.iban_invalid = b(payment.ibanValid === false);
    f.iban_country_mismatch = mismatch(payment.ibanCountryMatchesBilling);
  }
  if (velocity) {
    const v = velocity;
    const newEmail = v.email.d30.count === 0;
    f.vel_card_1h = count(v.card?.h1);
    f.vel_card_24h = count(v.card?.h24);
    f.vel_email_1h = count(v.email.h1);
    f.vel_email_24h = count(v.email.h24);
    f.vel_device_1h = count(v.device.h1);
    f.vel_device_24h = count(v.device.h24);
    f.vel_device_amount_24h_log = log1(v.device.h24.amountSum / 100);
    f.vel_ip_1h = count(v.ip.h1);
    f.vel_ip_24h = count(v.ip.h24);
    f.vel_address_24h = count(v.address.h24);
    f.vel_address_30d = count(v.address.d30);
    f.cards_per_email_24h = log1(v.distinctCardsPerEmail24h);
    f.emails_per_device_30d = log1(v.distinctEmailsPerDevice30d);
    f.new_device = b(v.newDevice);
    f.new_email = b(newEmail);
    // Interactions a linear model cannot form itself: a known account on a new device (takeover),
    // and a new device shipping away from the billing address.
    f.known_email_new_device = b(!newEmail && v.newDevice);
    f.new_device_ships_elsewhere = b(v.newDevice && shipsElsewhere);
  }
  if (credit) {
    f.credit_poor = b(credit.decision === 'poor');
    f.credit_limited = b(credit.decision === 'limited');
    f.credit_unknown = b(credit.decision === 'unknown');
  } else if (method !== 'invoice' && method !== 'paylater') {
    // No credit check is made for these methods: that is a known "nothing to report", not missing.
    f.credit_poor = 0;
    f.credit_limited = 0;
    f.credit_unknown = 0;
  }
  return f;
}

/** Stable reason code per feature, shown to merchants when the feature pushes the score up. */
export const REASON_CODES: Readonly<Record<FeatureName, string>> = {
  amount_eur_log: 'AMOUNT_HIGH',
  amount_small: 'AMOUNT_SMALL',
  method_card: 'PAYMENT_METHOD_CARD',
  method_iban: 'PAYMENT_METHOD_IBAN',
  method_invoice: 'PAYMENT_METHOD_INVOICE',
  method_paylater: 'PAYMENT_METHOD_PAYLATER',
  no_date_of_birth: 'DATE_OF_BIRTH_MISSING',
  shipping_address_differs: 'SHIPPING_ADDRESS_DIFFERS',
  shipping_country_differs: 'SHIPPING_COUNTRY_DIFFERS',
  email_invalid: 'EMAIL_INVALID',
  email_disposable: 'EMAIL_DISPOSABLE',
  email_freemail: 'EMAIL_FREEMAIL',
  name_email_mismatch: 'NAME_EMAIL_MISMATCH',
  phone_invalid: 'PHONE_INVALID',
  phone_country_mismatch: 'PHONE_COUNTRY_MISMATCH',
  ip_country_unknown: 'IP_COUNTRY_UNKNOWN',
  ip_billing_mismatch: 'IP_BILLING_COUNTRY_MISMATCH',
  ip_shipping_mismatch: 'IP_SHIPPING_COUNTRY_MISMATCH',

  billing_shipping_distance_log: 'BILLING_SHIPPING_DISTANCE',
  bin_invalid: 'BIN_INVALID',
  bin_country_mismatch: 'BIN_COUNTRY_MISMATCH',
  bin_prepaid: 'BIN_PREPAID',
  iban_invalid: 'IBAN_INVALID',
  iban_country_mismatch: 'IBAN_COUNTRY_MISMATCH',
  vel_card_1h: 'VELOCITY_CARD_1H',
  vel_card_24h: 'VELOCITY_CARD_24H',
  vel_email_1h: 'VELOCITY_EMAIL_1H',
  vel_email_24h: 'VELOCITY_EMAIL_24H',
  vel_device_1h: 'VELOCITY_DEVICE_1H',
  vel_device_24h: 'VELOCITY_DEVICE_24H',
  vel_device_amount_24h_log: 'VELOCITY_DEVICE_AMOUNT_24H',
  vel_ip_1h: 'VELOCITY_IP_1H',
  vel_ip_24h: 'VELOCITY_IP_24H',
  vel_address_24h: 'VELOCITY_ADDRESS_24H',
  vel_address_30d: 'VELOCITY_ADDRESS_30D',
  cards_per_email_24h: 'MANY_CARDS_PER_EMAIL',
  emails_per_device_30d: 'MANY_EMAILS_PER_DEVICE',
  new_device: 'NEW_DEVICE',
  new_email: 'NEW_CUSTOMER',
  known_email_new_device: 'KNOWN_ACCOUNT_NEW_DEVICE',
  new_device_ships_elsewhere: 'NEW_DEVICE_SHIPS_ELSEWHERE',
  credit_poor: 'CREDIT_POOR',
  credit_limited: 'CREDIT_LIMITED',
  credit_unknown: 'CREDIT_UNKNOWN',
};

/** Reason code the gateway adds when a signal service did not answer in time. */
export function unavailableReason(source: Exclude<SignalSource, 'order'>): string {
  return `${source.toUpperCase()}_UNAVAILABLE`;
}

/** The signal service an `unavailableReason` code names (`VELOCITY_UNAVAILABLE` -> `velocity`), if it is one. */
export function unavailableSource(reason: unknown): string | undefined {
  if (typeof reason !== 'string' || !reason.endsWith(UNAVAILABLE_SUFFIX)) return undefined;
  return reason.slice(0, -UNAVAILABLE_SUFFIX.length).toLowerCase() || undefined;
}
const UNAVAILABLE_SUFFIX = '_UNAVAILABLE';
