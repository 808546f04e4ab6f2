/**
 * The fraud stack's shared vocabulary: the order a merchant sends, and the signals each service
 * returns. Every service and the training script use these types, so the model is trained on
 * exactly the features the running services compute.
 */

export type Currency = 'EUR' | 'USD' | 'GBP' | 'CHF' | 'SEK' | 'PLN';

export interface Address {
  line1: string;
  city: string;
  postalCode: string;
  /** ISO 3166-1 alpha-2 */
  country: string;
}

export type Payment =
  | { method: 'card'; bin: string; last4: string }
  | { method: 'iban'; iban: string }
  | { method: 'invoice' }
  | { method: 'paylater' };

/** POST /v1/assessments body (the gateway validates it field by field). */
export interface Order {
  merchantId: string;
  orderId: string;
  /** Minor units (cents). */
  amount: number;
  currency: Currency;
  customer: { name: string; email: string; phone: string; dateOfBirth?: string };
  billingAddress: Address;
  shippingAddress: Address;
  ipAddress: string;
  deviceId: string;
  payment: Payment;
  /** ISO time the order was placed; defaults to now. */
  createdAt?: string;
}

export type Decision = 'accept' | 'review' | 'reject';

/** Reason codes are stable strings, e.g. `EMAIL_DISPOSABLE`, `BIN_COUNTRY_MISMATCH`, `VELOCITY_CARD_1H`. */
export type ReasonCode = string;

/** identity: POST /check { customer, billingAddress } */
export interface IdentitySignals {
  emailValid: boolean;
  emailDisposable: boolean;
  emailFreeMail: boolean;
  phoneValid: boolean;
  phoneCountry: string | null;
  /** Does the phone's country match the billing country? null when unknown. */
  phoneCountryMatchesBilling: boolean | null;
  /** 0..1: how well the email local part matches the customer's name. */
  nameEmailSimilarity: number;
  reasons: ReasonCode[];
}

/** geo: POST /check { ipAddress, billingAddress, shippingAddress } */
export interface GeoSignals {
  ipCountry: string | null;
  ipCountryMatchesBilling: boolean | null;
  ipCountryMatchesShipping: boolean | null;
  billingMatchesShipping: boolean;
  /** Distance between billing and shipping country centroids, km; null when unknown. */
  billingShippingDistanceKm: number | null;
  reasons: ReasonCode[];
}

/** payment: POST /check { payment, billingAddress } */
export interface PaymentSignals {
  method: Payment['method'];
  binValid: boolean | null;
  binCountry: string | null;
  binCountryMatchesBilling: boolean | null;
  /** Prepaid or virtual card ranges. */
  binPrepaid: boolean | null;
  ibanValid: boolean | null;
  ibanCountry: string | null;
  ibanCountryMatchesBilling: boolean | null;
  reasons: ReasonCode[];
}

/** Counts and sums of prior orders for one key over one window. */
export interface VelocityWindow {
  count: number;
  amountSum: number;
}

/** velocity: POST /check { order } (it also records the order in its history) */
export interface VelocitySignals {
  card: { h1: VelocityWindow; h24: VelocityWindow; d30: VelocityWindow } | null;
  email: { h1: VelocityWindow; h24: VelocityWindow; d30: VelocityWindow };
  device: { h1: VelocityWindow; h24: VelocityWindow; d30: VelocityWindow };
  ip: { h1: VelocityWindow; h24: VelocityWindow; d30: VelocityWindow };
  address: { h1: VelocityWindow; h24: VelocityWindow; d30: VelocityWindow };
  /** Distinct emails seen with this device in 30 days (account takeover, shared devices). */
  distinctEmailsPerDevice30d: number;
  /** Distinct cards seen with this email in 24 hours (card testing). */
  distinctCardsPerEmail24h: number;
  /** First order ever seen from this device. */
  newDevice: boolean;
  reasons: ReasonCode[];
}

/**
 * credit: POST /check { customer: { name, dateOfBirth? }, billingAddress, amount, currency }.
 * Only for invoice and pay-later orders. It reads raw bureau records and emits only this coarse
 * decision: never the records (data class `credit-decision`, not `credit-bureau`).
 */
export interface CreditSignals {
  decision: 'good' | 'limited' | 'poor' | 'unknown';
  reasons: ReasonCode[];
}

/** scoring: POST /score { order-level features } -> ScoreResult */
export interface Features {
  [name: string]: number;
}

export interface ScoreResult {
  /** 0..1 probability of fraud. */
  score: number;
  modelVersion: string;
  /** Top contributing reason codes, most important first. */
  reasons: ReasonCode[];
}

/** decision: POST /decide { merchantId, score, reasons, amount } */
export interface DecisionResult {
  decision: Decision;
  /** The rule that decided, e.g. `threshold.reject` or `rule.blocked-country`. */
  rule: string;
  reasons: ReasonCode[];
}

/** gateway answers POST /v1/assessments with this, audit stores it. */
export interface Assessment {
  assessmentId: string;
  merchantId: string;
  orderId: string;
  decision: Decision;
  score: number;
  reasons: ReasonCode[];
  createdAt: string;
}
