/**
 * Velocity: how often the same card, email, device, IP address and shipping address were seen in
 * the last hour, day and 30 days. Identifiers are stored only as SHA-256 keys of their normalised
 * values (the history holds no PII in clear). This file is pure: the same functions compute the
 * features offline (`VelocityIndex`, used by the training script) and online (server.ts with SQL),
 * and a test holds the two to the same answers.
 */
import { hash } from 'node:crypto';
import type { Address, Currency, Order, VelocitySignals, VelocityWindow } from '../../lib/types.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** Window lengths. A prior order at time `t` counts in window `w` of an order at `T` when `T - w < t <= T`. */
export const WINDOW_MS = { h1: HOUR_MS, h24: DAY_MS, d30: 30 * DAY_MS } as const;
export type WindowName = keyof typeof WINDOW_MS;
export const KEY_KINDS = ['card', 'email', 'device', 'ip', 'address'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

/** Rough FX to EUR (the generator's table): sums over windows compare amounts in EUR cents. */
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

export function sha256Hex(text: string): string {
  // The one-shot hash() is ~2.5x faster than createHash() for short inputs (seeding hashes millions).
  return hash('sha256', text, 'hex');
}

const GMAIL = new Set(['gmail.com', 'googlemail.com']);

/** Lower case, `+tag` dropped; Gmail also ignores dots and has two domains for one mailbox. */
export function normaliseEmail(email: string): string {
  const e = email.trim().toLowerCase();
  const at = e.lastIndexOf('@');
  if (at < 0) return e;
  let local = e.slice(0, at).split('+')[0]!;
  let domain = e.slice(at + 1);
  if (GMAIL.has(domain)) {
    local = local.replace(/\./g, '');
    domain = 'gmail.com';
  }
  return `${local}@${domain}`;
}

/** Lower case, letters and digits only, accents dropped; printable ASCII skips the (slow) Unicode steps. */
function foldText(s: string): string {
  const lower = s.toLowerCase();
  if (!/[^ -~]/.test(lower)) return lower.replace(/[^a-z0-9]+/g, '');
  return lower
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/ß/g, 'ss')
    .replace(/[^\p{L}\p{N}]+/gu, '');
}

/** Country, postal code and street line, case, accents, spacing and punctuation ignored. */
export function normaliseAddress(address: Pick<Address, 'line1' | 'postalCode' | 'country'>): string {
  return `${address.country.trim().toUpperCase()}|${foldText(address.postalCode)}|${foldText(address.line1)}`;
}

/** The card as the first six BIN digits and the last four: 8-digit BINs of one card give one key. */
export function normaliseCard(bin: string, last4: string): string {
  return `${bin.trim().slice(0, 6)}${last4.trim()}`;
}

/**
 * A UUID (version 8, "custom") from the merchant and its order id, so the same order sent twice is
 * one row of history, and the seed's rows are reproducible.
 */
export function orderUuid(merchantId: string, orderId: string): string {
  const h = sha256Hex(`order\u0000${merchantId}\u0000${orderId}`);
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** One order as velocity sees it: keys, time and amount. The rows of `orders_history`. */
export interface OrderKeys {
  id: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Null unless paid by card. */
  cardKey: string | null;
  emailKey: string;
  deviceKey: string;
  ipKey: string;
  /** Of the shipping address: drop addresses are where fraud rings repeat themselves. */
  addressKey: string;
  /** EUR cents. */
  amount: number;
}

/** Each key is SHA-256 hex over a kind prefix and the normalised value, so kinds never collide. */
export const keyOf = {
  card: (bin: string, last4: string) => sha256Hex(`card:${normaliseCard(bin, last4)}`),
  email: (email: string) => sha256Hex(`email:${normaliseEmail(email)}`),
  device: (deviceId: string) => sha256Hex(`device:${deviceId.trim().toLowerCase()}`),
  ip: (ip: string) => sha256Hex(`ip:${ip.trim().toLowerCase()}`),
  address: (address: Pick<Address, 'line1' | 'postalCode' | 'country'>) =>
    sha256Hex(`address:${normaliseAddress(address)}`),
};

/** The history row of an order; `now` (epoch ms) stands in for a missing `createdAt`. */
export function normaliseKeys(order: Order, now: number = Date.now()): OrderKeys {
  const created = order.createdAt ? Date.parse(order.createdAt) : NaN;
  return {
    id: orderUuid(order.merchantId, order.orderId),
    createdAt: Number.isFinite(created) ? created : now,
    cardKey: order.payment.method === 'card' ? keyOf.card(order.payment.bin, order.payment.last4) : null,
    emailKey: keyOf.email(order.customer.email),
    deviceKey: keyOf.device(order.deviceId),
    ipKey: keyOf.ip(order.ipAddress),
    addressKey: keyOf.address(order.shippingAddress),
    amount: toEurCents(order.amount, order.currency),
  };
}

/** Reason when a window holds at least this many prior orders (0 turns that check off). */
export type VelocityThresholds = Record<KeyKind, Record<WindowName, number>> & {
  /** `DEVICE_MANY_EMAILS` at this many distinct emails on the device (this order's included). */
  distinctEmailsPerDevice30d: number;
  /** `EMAIL_MANY_CARDS` at this many distinct cards on the email (this order's included). */
  distinctCardsPerEmail24h: number;
};

export const DEFAULT_THRESHOLDS: VelocityThresholds = {
  card: { h1: 3, h24: 5, d30: 15 },
  email: { h1: 3, h24: 6, d30: 20 },
  device: { h1: 4, h24: 8, d30: 30 },
  ip: { h1: 8, h24: 25, d30: 150 },
  address: { h1: 3, h24: 6, d30: 20 },
  distinctEmailsPerDevice30d: 3,
  distinctCardsPerEmail24h: 3,
};

const WINDOW_CODE: Record<WindowName, string> = { h1: '1H', h24: '24H', d30: '30D' };

/** `VELOCITY_<KIND>_<1H|24H|30D>` per window at or over its threshold, then `DEVICE_MANY_EMAILS`, `EMAIL_MANY_CARDS`. */
export function velocityReasons(
  signals: Omit<VelocitySignals, 'reasons'>,
  thresholds: VelocityThresholds,
): string[] {
  const reasons: string[] = [];
  for (const kind of KEY_KINDS) {
    const windows = signals[kind];
    if (!windows) continue;
    for (const w of ['h1', 'h24', 'd30'] as const) {
      const limit = thresholds[kind][w];
      if (limit > 0 && windows[w].count >= limit)
        reasons.push(`VELOCITY_${kind.toUpperCase()}_${WINDOW_CODE[w]}`);
    }
  }
  const t = thresholds;
  if (
    t.distinctEmailsPerDevice30d > 0 &&
    signals.distinctEmailsPerDevice30d >= t.distinctEmailsPerDevice30d
  ) {
    reasons.push('DEVICE_MANY_EMAILS');
  }
  if (t.distinctCardsPerEmail24h > 0 && signals.distinctCardsPerEmail24h >= t.distinctCardsPerEmail24h) {
    reasons.push('EMAIL_MANY_CARDS');
  }
  return reasons;
}

/** One key's windows plus the extras the SQL computes alongside (see store.ts). */
export interface KeyAggregate {
  h1: VelocityWindow;
  h24: VelocityWindow;
  d30: VelocityWindow;
  /** email: distinct other cards in 24 h; device: distinct other emails in 30 d; else 0. */
  distinctOthers: number;
  /** device: prior orders ever (for `newDevice`); else 0. */
  ever: number;
}

/** Every key's aggregate for one order; no card for an order not paid by card. */
export type OrderAggregates = Record<Exclude<KeyKind, 'card'>, KeyAggregate> & { card?: KeyAggregate };

/** A key's aggregate as the database reads it: the distinct others as values, not yet counted. */
export interface PriorAggregate {
  h1: VelocityWindow;
  h24: VelocityWindow;
  d30: VelocityWindow;
  /** email: the other cards seen in 24 h; device: the other emails seen in 30 d; else empty. */
  others: readonly string[];
  /** device: prior orders ever; else 0. */
  ever: number;
}

function keyOfKind(kind: KeyKind, k: OrderKeys): string | null {
  switch (kind) {
    case 'card':
      return k.cardKey;
    case 'email':
      return k.emailKey;
    case 'device':
      return k.deviceKey;
    case 'ip':
      return k.ipKey;
    case 'address':
      return k.addressKey;
  }
}

/**
 * The aggregates of a batch of orders checked in one statement, as if they had been checked one
 * by one in batch order: to what the database holds (`fromDb`, which shows none of the batch), each
 * order adds the batch's earlier orders at or before its time, under the same rules as the SQL
 * and `VelocityIndex`. Only orders whose row the statement stored count (`recorded`: a re-sent
 * order's row was already there, and a second copy in the batch stores nothing).
 */
export function mergeBatchPrior(
  batch: readonly OrderKeys[],
  fromDb: readonly Partial<Record<KeyKind, PriorAggregate>>[],
  recorded: readonly boolean[] = batch.map(() => true),
): OrderAggregates[] {
  const firstOfId = new Map<string, number>();
  batch.forEach((k, j) => {
    if (!firstOfId.has(k.id)) firstOfId.set(k.id, j);
  });
  const counts = batch.map((k, j) => recorded[j] === true && firstOfId.get(k.id) === j);
  return batch.map((keys, i) => {
    const T = keys.createdAt;
    const out: Partial<Record<KeyKind, KeyAggregate>> = {};
    for (const kind of KEY_KINDS) {
      const key = keyOfKind(kind, keys);
      const db = fromDb[i]?.[kind];
      if (key === null) continue;
      const win = (w: VelocityWindow | undefined) => ({ count: w?.count ?? 0, amountSum: w?.amountSum ?? 0 });
      const agg = { h1: win(db?.h1), h24: win(db?.h24), d30: win(db?.d30) };
      let ever = db?.ever ?? 0;
      const others = new Set(db?.others ?? []);
      for (let j = 0; j < i; j++) {
        const e = batch[j]!;
        if (!counts[j] || keyOfKind(kind, e) !== key || e.createdAt > T || e.id === keys.id) continue;
        ever++;
        for (const w of ['h1', 'h24', 'd30'] as const) {
          if (e.createdAt > T - WINDOW_MS[w]) {
            agg[w].count++;
            agg[w].amountSum += e.amount;
          }
        }
        if (
          kind === 'email' &&
          e.createdAt > T - WINDOW_MS.h24 &&
          e.cardKey !== null &&
          e.cardKey !== keys.cardKey
        )
          others.add(e.cardKey);
        if (kind === 'device' && e.createdAt > T - WINDOW_MS.d30 && e.emailKey !== keys.emailKey)
          others.add(e.emailKey);
      }
      out[kind] = { ...agg, distinctOthers: others.size, ever: kind === 'device' ? ever : 0 };
    }
    return out as OrderAggregates;
  });
}

/** Assembles the answer from one aggregate per key kind (card absent for non-card orders). */
export function assembleSignals(
  keys: Pick<OrderKeys, 'cardKey'>,
  agg: OrderAggregates,
  thresholds: VelocityThresholds,
): VelocitySignals {
  const windows = (a: KeyAggregate) => ({ h1: a.h1, h24: a.h24, d30: a.d30 });
  const base: Omit<VelocitySignals, 'reasons'> = {
    card: keys.cardKey && agg.card ? windows(agg.card) : null,
    email: windows(agg.email),
    device: windows(agg.device),
    ip: windows(agg.ip),
    address: windows(agg.address),
    distinctEmailsPerDevice30d: agg.device.distinctOthers + 1,
    distinctCardsPerEmail24h: agg.email.distinctOthers + (keys.cardKey ? 1 : 0),
    newDevice: agg.device.ever === 0,
  };
  return { ...base, reasons: velocityReasons(base, thresholds) };
}

interface Entry {
  id: string;
  t: number;
  amount: number;
  /** The email of a device entry, the card of an email entry. */
  other: string | null;
}

/**
 * The in-memory twin of the database: feed it orders (`add`) and ask what the service would answer
 * for the next one (`signals`). Orders may be added in any time order; only those at or before the
 * asked order's time count, exactly as in SQL. For training and tests, not for production volumes.
 */
export class VelocityIndex {
  readonly #byKind: Record<KeyKind, Map<string, Entry[]>> = {
    card: new Map(),
    email: new Map(),
    device: new Map(),
    ip: new Map(),
    address: new Map(),
  };
  readonly #thresholds: VelocityThresholds;

  constructor(thresholds: VelocityThresholds = DEFAULT_THRESHOLDS) {
    this.#thresholds = thresholds;
  }

  add(keys: OrderKeys): void {
    const put = (kind: KeyKind, key: string | null, other: string | null) => {
      if (key === null) return;
      const list = this.#byKind[kind].get(key);
      const entry = { id: keys.id, t: keys.createdAt, amount: keys.amount, other };
      if (list) list.push(entry);
      else this.#byKind[kind].set(key, [entry]);
    };
    put('card', keys.cardKey, null);
    put('email', keys.emailKey, keys.cardKey);
    put('device', keys.deviceKey, keys.emailKey);
    put('ip', keys.ipKey, null);
    put('address', keys.addressKey, null);
  }

  #aggregate(kind: KeyKind, key: string | null, keys: OrderKeys): KeyAggregate {
    const zero = () => ({ count: 0, amountSum: 0 });
    const agg: KeyAggregate = { h1: zero(), h24: zero(), d30: zero(), distinctOthers: 0, ever: 0 };
    if (key === null) return agg;
    const T = keys.createdAt;
    const others = new Set<string>();
    for (const e of this.#byKind[kind].get(key) ?? []) {
      if (e.t > T || e.id === keys.id) continue;
      agg.ever++;
      for (const w of ['h1', 'h24', 'd30'] as const) {
        if (e.t > T - WINDOW_MS[w]) {
          agg[w].count++;
          agg[w].amountSum += e.amount;
        }
      }
      if (kind === 'email' && e.t > T - WINDOW_MS.h24 && e.other !== null && e.other !== keys.cardKey)
        others.add(e.other);
      if (kind === 'device' && e.t > T - WINDOW_MS.d30 && e.other !== null && e.other !== keys.emailKey)
        others.add(e.other);
    }
    agg.distinctOthers = others.size;
    if (kind !== 'device') agg.ever = 0;
    return agg;
  }

  /** What POST /check would answer for this order, without recording it. */
  signals(keys: OrderKeys): VelocitySignals {
    return assembleSignals(
      keys,
      {
        card: this.#aggregate('card', keys.cardKey, keys),
        email: this.#aggregate('email', keys.emailKey, keys),
        device: this.#aggregate('device', keys.deviceKey, keys),
        ip: this.#aggregate('ip', keys.ipKey, keys),
        address: this.#aggregate('address', keys.addressKey, keys),
      },
      this.#thresholds,
    );
  }

  /** `signals` then `add`: what the service does for each order it sees. */
  check(keys: OrderKeys): VelocitySignals {
    const s = this.signals(keys);
    this.add(keys);
    return s;
  }
}
