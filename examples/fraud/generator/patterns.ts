/**
 * Sessions: what one shopper (or one fraudster) does, as a list of timed orders. Legit sessions
 * are mostly one order of a known customer; fraud sessions follow the patterns fraud teams see:
 * card testing, account takeover, triangulation, disposable identities, BIN/IP mismatches,
 * velocity spikes, and "friendly fraud" that looks exactly like a good order (so no model scores
 * perfectly, as in real life).
 */
import type { Address, Order, Payment } from '../lib/types.ts';
import {
  countryProfile,
  customerAt,
  deviceId,
  emailForName,
  randomAddress,
  randomCard,
  randomCountry,
  randomLocalPart,
  randomPhone,
  dateOfBirth,
  type Customer,
  type World,
} from './customers.ts';
import {
  COUNTRIES,
  DISPOSABLE_MAIL,
  EUR_PER_UNIT,
  FRAUD_IP_COUNTRIES,
  GLOBAL_MAIL,
  MERCHANTS,
  MERCHANT_BY_ID,
  type Merchant,
} from './data.ts';
import { chance, digits, int, logNormal, pick, weighted, type Rand } from './random.ts';

export type FraudPattern =
  | 'card-testing'
  | 'account-takeover'
  | 'triangulation'
  | 'disposable-email'
  | 'bin-ip-mismatch'
  | 'velocity-spike'
  | 'friendly-fraud';

export type LegitPattern =
  'normal' | 'new-device' | 'travel' | 'gift' | 'repeat-buyer' | 'big-ticket' | 'holiday-home';

export type Pattern = FraudPattern | LegitPattern;

/** An order before the stream gives it an id and a timestamp. */
export type OrderDraft = Omit<Order, 'orderId' | 'createdAt'>;

export interface TimedDraft {
  /** ms since the epoch, on the stream's simulated clock */
  at: number;
  order: OrderDraft;
  label: 'fraud' | 'legit';
  pattern: Pattern;
}

export interface SessionContext {
  world: World;
  rand: Rand;
  /** A customer index, frequent shoppers more often (Zipf-like). */
  customerIndex(): number;
}

const MINUTE = 60_000;

export function pickMerchant(rand: Rand, only?: readonly string[]): Merchant {
  const list = only ? MERCHANTS.filter((m) => only.includes(m.merchantId)) : MERCHANTS;
  return MERCHANT_BY_ID.get(weighted(rand, Object.fromEntries(list.map((m) => [m.merchantId, m.share]))))!;
}

/** An order value in minor units of `currency`, log-normal around the merchant's median. */
export function amountFor(rand: Rand, merchant: Merchant, currency: Order['currency'], scale = 1): number {
  const eur = Math.min(20_000, Math.max(1, logNormal(rand, merchant.medianEur * scale, merchant.sigma)));
  return Math.max(100, Math.round((eur / EUR_PER_UNIT[currency]) * 100));
}

function paymentOf(rand: Rand, c: Customer, merchant: Merchant): Payment {
  const weights: Record<string, number> = {};
  for (const [m, w] of Object.entries(merchant.methods))
    weights[m] = w * c.methodTaste[m as keyof Customer['methodTaste']];
  const method = weighted(rand, weights) as Payment['method'];
  if (method === 'iban' && c.iban) return { method, iban: c.iban };
  if (method === 'card' || method === 'iban') return { method: 'card', ...pick(rand, c.cards) };
  return { method };
}

function orderOf(
  ctx: SessionContext,
  c: Customer,
  merchant: Merchant,
  over: Partial<OrderDraft> = {},
): OrderDraft {
  const { rand } = ctx;
  const payment = over.payment ?? paymentOf(rand, c, merchant);
  const bnpl = payment.method === 'invoice' || payment.method === 'paylater';
  return {
    merchantId: merchant.merchantId,
    amount: amountFor(rand, merchant, c.currency),
    currency: c.currency,
    customer: {
      name: c.name,
      email: c.email,
      phone: c.phone,
      // Pay-later and invoice checkouts ask for the date of birth; some others keep it on file.
      ...(bnpl || chance(rand, 0.3) ? { dateOfBirth: c.dateOfBirth } : {}),
    },
    billingAddress: c.address,
    // As in the seeded history: now and then to the second (work) address.
    shippingAddress:
      c.shippingAddresses.length > 1 && chance(rand, 0.2) ? c.shippingAddresses[1]! : c.address,
    ipAddress: ipOf(ctx, c),
    deviceId: rand() < 0.75 ? c.devices[0]! : pick(rand, c.devices),
    payment,
    ...over,
  };
}

/** Home 70%, the mobile network's shared address 25%, elsewhere in the country 5% (as the history). */
function ipOf(ctx: SessionContext, c: Customer): string {
  const r = ctx.rand();
  if (r < 0.7) return c.homeIp;
  if (r < 0.95 && c.mobileIp) return c.mobileIp;
  return ipIn(ctx, c.country);
}

function ipIn(ctx: SessionContext, country: string): string {
  return ctx.world.sources.ipForCountry(country, ctx.rand);
}

function foreignCountry(rand: Rand, not: readonly string[]): string {
  for (;;) {
    const c = pick(rand, COUNTRIES).code;
    if (!not.includes(c)) return c;
  }
}

/** A shopper who is not in the customer base: a new identity (fraud or a first-time buyer). */
function stranger(
  ctx: SessionContext,
  country: string,
  mail: 'plausible' | 'random' | 'disposable',
): Customer {
  const { rand, world } = ctx;
  const p = countryProfile(country);
  const firstName = pick(rand, p.firstNames);
  const lastName = pick(rand, p.lastNames);
  const email =
    mail === 'plausible'
      ? emailForName(rand, firstName, lastName, country, digits(rand, int(rand, 2, 4)))
      : `${randomLocalPart(rand)}@${mail === 'disposable' ? pick(rand, DISPOSABLE_MAIL) : pick(rand, GLOBAL_MAIL)}`;
  const address = randomAddress(rand, country);
  return {
    index: -1,
    country,
    currency: p.currency,
    firstName,
    lastName,
    name: `${firstName} ${lastName}`,
    email,
    phone: randomPhone(rand, country),
    dateOfBirth: dateOfBirth(rand),
    address,
    shippingAddresses: [address],
    devices: [deviceId(rand)],
    homeIp: world.sources.ipForCountry(country, rand),
    mobileIp: null,
    known: false,
    cards: [randomCard(rand, world.sources, country)],
    iban: null,
    methodTaste: { card: 1, iban: 0, invoice: 0.3, paylater: 0.3 },
  };
}

function fraudIp(ctx: SessionContext, victimCountry: string, pForeign: number): string {
  return ipIn(ctx, chance(ctx.rand, pForeign) ? pick(ctx.rand, FRAUD_IP_COUNTRIES) : victimCountry);
}

function draft(at: number, order: OrderDraft, label: 'fraud' | 'legit', pattern: Pattern): TimedDraft {
  return { at, order, label, pattern };
}

export function legitSession(ctx: SessionContext, t: number): TimedDraft[] {
  const { rand } = ctx;
  const c = customerAt(ctx.world, ctx.customerIndex());
  const merchant = pickMerchant(rand);
  const kind = weighted(rand, {
    normal: 74,
    'new-device': 5,
    travel: 6,
    gift: 8,
    'repeat-buyer': 3,
    'big-ticket': 2,
    'holiday-home': 2,
  });
  if (kind === 'holiday-home') {
    // Looks like a takeover and is not: a known customer on a borrowed laptop, abroad, having the
    // order sent to the holiday flat.
    const there = foreignCountry(rand, [c.country]);
    const over: Partial<OrderDraft> = {
      deviceId: deviceId(rand),
      shippingAddress: randomAddress(rand, there),
    };
    if (chance(rand, 0.6)) over.ipAddress = ipIn(ctx, there);
    return [draft(t, orderOf(ctx, c, merchant, over), 'legit', kind)];
  }
  if (kind === 'big-ticket') {
    // A rare large purchase (a laptop, a family holiday), sometimes on a new phone.
    const over: Partial<OrderDraft> = { amount: amountFor(rand, merchant, c.currency, 4) };
    if (chance(rand, 0.3)) over.deviceId = deviceId(rand);
    return [draft(t, orderOf(ctx, c, merchant, over), 'legit', kind)];
  }
  if (kind === 'new-device')
    return [draft(t, orderOf(ctx, c, merchant, { deviceId: deviceId(rand) }), 'legit', kind)];
  if (kind === 'travel') {
    // Abroad, or at home behind a VPN exit in another country.
    const there = foreignCountry(rand, [c.country]);
    return [draft(t, orderOf(ctx, c, merchant, { ipAddress: ipIn(ctx, there) }), 'legit', kind)];
  }
  if (kind === 'gift') {
    const to: Address = chance(rand, 0.8)
      ? randomAddress(rand, c.country)
      : randomAddress(rand, foreignCountry(rand, [c.country]));
    return [draft(t, orderOf(ctx, c, merchant, { shippingAddress: to }), 'legit', kind)];
  }
  if (kind === 'repeat-buyer') {
    const n = int(rand, 2, 3);
    const out: TimedDraft[] = [];
    let at = t;
    for (let i = 0; i < n; i++) {
      out.push(draft(at, orderOf(ctx, c, merchant), 'legit', kind));
      at += int(rand, 2, 60) * MINUTE;
    }
    return out;
  }
  return [draft(t, orderOf(ctx, c, merchant), 'legit', 'normal')];
}

export const FRAUD_WEIGHTS: Readonly<Record<FraudPattern, number>> = {
  'card-testing': 14,
  'account-takeover': 20,
  triangulation: 16,
  'disposable-email': 16,
  'bin-ip-mismatch': 14,
  'velocity-spike': 10,
  'friendly-fraud': 14,
};

export function fraudSession(ctx: SessionContext, t: number, pattern: FraudPattern): TimedDraft[] {
  const { rand, world } = ctx;
  switch (pattern) {
    case 'card-testing': {
      // Many small orders, a new card each time, one device; some rings rotate emails too.
      const home = randomCountry(rand);
      const who = stranger(ctx, home, chance(rand, 0.4) ? 'disposable' : 'random');
      const device = deviceId(rand);
      const ip = fraudIp(ctx, home, 0.5);
      const merchant = pickMerchant(rand, chance(rand, 0.8) ? ['pixelvault'] : ['nordlicht', 'frischkorb']);
      const rotate = chance(rand, 0.3);
      const n = int(rand, 6, 25);
      const out: TimedDraft[] = [];
      let at = t;
      for (let i = 0; i < n; i++) {
        const cardCountry = chance(rand, 0.5) ? home : pick(rand, COUNTRIES).code;
        const email =
          rotate && i % 3 === 0 ? `${randomLocalPart(rand)}@${pick(rand, GLOBAL_MAIL)}` : who.email;
        const order = orderOf(ctx, who, merchant, {
          amount: Math.round(int(rand, 100, 600) / EUR_PER_UNIT[who.currency]),
          customer: { name: who.name, email, phone: who.phone },
          deviceId: device,
          ipAddress: ip,
          payment: { method: 'card', ...randomCard(rand, world.sources, cardCountry, chance(rand, 0.5)) },
        });
        out.push(draft(at, order, 'fraud', pattern));
        at += int(rand, 3, 45) * 1000;
      }
      return out;
    }
    case 'account-takeover': {
      // A known customer's account (email, name, stored card) from a new device, shipped elsewhere.
      const victim = customerAt(world, ctx.customerIndex());
      const merchant = pickMerchant(rand, ['voltmarkt', 'voltmarkt', 'skyroute', 'nordlicht']);
      const device = deviceId(rand);
      const ip = fraudIp(ctx, victim.country, 0.5);
      // Some fraudsters intercept the parcel at the victim's own door: then only the device is new.
      const r = rand();
      const ship =
        r < 0.25
          ? victim.address
          : r < 0.6
            ? randomAddress(rand, victim.country)
            : randomAddress(rand, foreignCountry(rand, [victim.country]));
      const n = int(rand, 1, 3);
      const out: TimedDraft[] = [];
      let at = t;
      for (let i = 0; i < n; i++) {
        out.push(
          draft(
            at,
            orderOf(ctx, victim, merchant, {
              amount: amountFor(rand, merchant, victim.currency, 2.5),
              deviceId: device,
              ipAddress: ip,
              shippingAddress: ship,
              ...(chance(rand, 0.3)
                ? {
                    customer: {
                      name: victim.name,
                      email: victim.email,
                      phone: randomPhone(rand, foreignCountry(rand, [victim.country])),
                    },
                  }
                : {}),
            }),
            'fraud',
            pattern,
          ),
        );
        at += int(rand, 1, 20) * MINUTE;
      }
      return out;
    }
    case 'triangulation': {
      // Stolen card with its owner's name and address; goods go to a third party abroad.
      const owner = stranger(ctx, randomCountry(rand), chance(rand, 0.5) ? 'plausible' : 'random');
      const shipCountry = foreignCountry(rand, [owner.country]);
      const merchant = pickMerchant(rand, ['voltmarkt', 'nordlicht']);
      const order = orderOf(ctx, owner, merchant, {
        amount: amountFor(rand, merchant, owner.currency, 1.8),
        shippingAddress: randomAddress(rand, shipCountry),
        // Through a proxy in the card owner's country, or from wherever the fraudster sits.
        ipAddress: chance(rand, 0.3)
          ? ipIn(ctx, owner.country)
          : fraudIp(ctx, foreignCountry(rand, [owner.country, shipCountry]), 0.5),
        deviceId: deviceId(rand),
        payment: { method: 'card', ...owner.cards[0]! },
      });
      return [draft(t, order, 'fraud', pattern)];
    }
    case 'disposable-email': {
      // A made-up identity with a throwaway address, often buying on invoice it will never pay.
      const who = stranger(ctx, randomCountry(rand), 'disposable');
      const merchant = pickMerchant(rand, ['nordlicht', 'voltmarkt', 'pixelvault']);
      const payment: Payment = chance(rand, 0.5)
        ? { method: chance(rand, 0.5) ? 'invoice' : 'paylater' }
        : { method: 'card', ...who.cards[0]! };
      const order = orderOf(ctx, who, merchant, {
        amount: amountFor(rand, merchant, who.currency, 1.5),
        payment,
        ipAddress: fraudIp(ctx, who.country, 0.4),
        ...(chance(rand, 0.3)
          ? {
              customer: {
                name: who.name,
                email: who.email,
                phone: `+${digits(rand, 11)}`,
                dateOfBirth: who.dateOfBirth,
              },
            }
          : {}),
      });
      return [draft(t, order, 'fraud', pattern)];
    }
    case 'bin-ip-mismatch': {
      // A card issued in one country, a billing address claimed in another, an IP in a third.
      const billing = randomCountry(rand);
      const who = stranger(ctx, billing, chance(rand, 0.6) ? 'random' : 'plausible');
      const cardCountry = foreignCountry(rand, [billing]);
      const merchant = pickMerchant(rand);
      const order = orderOf(ctx, who, merchant, {
        amount: amountFor(rand, merchant, who.currency, 1.5),
        payment: { method: 'card', ...randomCard(rand, world.sources, cardCountry) },
        ipAddress: fraudIp(ctx, cardCountry, 0.5),
        deviceId: deviceId(rand),
      });
      return [draft(t, order, 'fraud', pattern)];
    }
    case 'velocity-spike': {
      // One device and IP, many identities and cards, goods to one or two drop addresses.
      const country = randomCountry(rand);
      const device = deviceId(rand);
      const ip = fraudIp(ctx, country, 0.4);
      const drops = [randomAddress(rand, country), randomAddress(rand, country)];
      const n = int(rand, 5, 15);
      const out: TimedDraft[] = [];
      let at = t;
      for (let i = 0; i < n; i++) {
        const who = stranger(ctx, country, chance(rand, 0.5) ? 'plausible' : 'random');
        const merchant = pickMerchant(rand, ['voltmarkt', 'pixelvault', 'nordlicht']);
        out.push(
          draft(
            at,
            orderOf(ctx, who, merchant, {
              amount: amountFor(rand, merchant, who.currency, 1.5),
              deviceId: device,
              ipAddress: ip,
              shippingAddress: pick(rand, drops),
              payment: { method: 'card', ...who.cards[0]! },
            }),
            'fraud',
            pattern,
          ),
        );
        at += int(rand, 1, 8) * MINUTE;
      }
      return out;
    }
    case 'friendly-fraud': {
      // A good customer's ordinary order, later charged back: nothing in the signals gives it away.
      const c = customerAt(world, ctx.customerIndex());
      return [draft(t, orderOf(ctx, c, pickMerchant(rand)), 'fraud', pattern)];
    }
  }
}
