/**
 * The velocity service's historical orders: a deterministic population of NORMAL customers buying
 * over the last 30 days, so the windows hold realistic counts before the first live order arrives.
 * Customers come from the fixed population (people.ts); the payment and geo services place their
 * cards and IP addresses in their home country, so a customer replayed as live traffic gets
 * consistent signals. Fast on purpose: keys are hashed once per customer, not once per order
 * (about 10 µs of CPU per order).
 */
import type { Address, Payment } from '../lib/types.ts';
import { sampleIpForCountry } from '../services/geo/logic.ts';
import { sampleBinForCountry } from '../services/payment/logic.ts';
import { DAY_MS, keyOf, type OrderKeys } from '../services/velocity/logic.ts';
import { addressIn, pick, streamRand, syntheticPerson, type Person, type Rand } from './people.ts';

export interface SeedCustomer extends Person {
  email: string;
  /** How this customer usually pays. */
  method: Payment['method'];
  /** Empty unless `method` is `card`. */
  cards: readonly { bin: string; last4: string }[];
  devices: readonly string[];
  homeIp: string;
  /** A carrier-grade NAT address shared with other customers of the same mobile network. */
  mobileIp: string;
  /** Home first; some customers also ship to work. */
  shippingAddresses: readonly Address[];
}

// Names repeat across the population: fold each once (Unicode normalisation is slow in bulk).
const asciiCache = new Map<string, string>();
function ascii(name: string): string {
  let folded = asciiCache.get(name);
  if (folded === undefined) {
    folded = name
      .toLowerCase()
      .normalize('NFKD')
      .replace(/\p{M}/gu, '')
      .replace(/ß/g, 'ss')
      .replace(/ł/g, 'l')
      .replace(/[^a-z]/g, '');
    asciiCache.set(name, folded);
  }
  return folded;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** `n` (even) random hex digits. */
function hex(rand: Rand, n: number): string {
  let s = '';
  for (let i = 0; i < n; i += 8) {
    const x = Math.floor(rand() * 0x100000000);
    s += HEX_BYTE[x >>> 24]! + HEX_BYTE[(x >>> 16) & 255]! + HEX_BYTE[(x >>> 8) & 255]! + HEX_BYTE[x & 255]!;
  }
  return s.length === n ? s : s.slice(0, n);
}

/**
 * Carrier-grade NAT addresses shared by the customers of mobile networks: with a million orders,
 * about 60 orders a month each, as seen from busy mobile gateways. Fixed, so that a smaller
 * history is a prefix of a larger one.
 */
const SHARED_IPS = 4000;

/** Customer `index` of the history: always the same person as `syntheticPerson(index)`. */
export function seedCustomer(index: number): SeedCustomer {
  const person = syntheticPerson(index);
  const rand = streamRand('customer', index);
  const first = ascii(person.firstName);
  const last = ascii(person.lastName);
  // Email addresses are unique, common names are not: the customer's index keeps them apart.
  const style = Math.floor(rand() * 5);
  const local = [
    `${first}.${last}`,
    `${first}${last}`,
    `${first[0]}.${last}`,
    `${first}_${last}`,
    `${last}.${first}`,
  ][style]!;
  const r = rand();
  const method: Payment['method'] = r < 0.6 ? 'card' : r < 0.75 ? 'iban' : r < 0.9 ? 'invoice' : 'paylater';
  const cardCount = method === 'card' ? (rand() < 0.8 ? 1 : 2) : 0;
  const cards = Array.from({ length: cardCount }, () => ({
    bin: sampleBinForCountry(person.address.country, rand),
    last4: String(Math.floor(rand() * 10_000)).padStart(4, '0'),
  }));
  const d = rand();
  const devices = Array.from({ length: d < 0.65 ? 1 : d < 0.95 ? 2 : 3 }, () => `dev-${hex(rand, 16)}`);
  const country = person.address.country;
  const homeIp = sampleIpForCountry(country, rand);
  const mobileIp = sampleIpForCountry(country, streamRand('shared-ip', Math.floor(rand() * SHARED_IPS)));
  const shippingAddresses: Address[] = [person.address];
  if (rand() < 0.3) shippingAddresses.push(addressIn(country, rand));
  // Fields listed, not spread: object spread measured ~13 µs per customer here, most of the seed's time.
  return {
    index: person.index,
    firstName: person.firstName,
    lastName: person.lastName,
    name: person.name,
    dateOfBirth: person.dateOfBirth,
    address: person.address,
    mailDomains: person.mailDomains,
    email: `${local}${index}@${pick(rand, person.mailDomains)}`,
    method,
    cards,
    devices,
    homeIp,
    mobileIp,
    shippingAddresses,
  };
}

// Orders per hour of the day (local time, roughly): quiet at night, busy in the evening.
const HOURLY = [2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 8, 8, 7, 7, 7, 8, 9, 10, 11, 11, 9, 6, 4];
const HOURLY_MAX = Math.max(...HOURLY);

function orderTime(rand: Rand, now: number): number {
  for (;;) {
    const t = now - Math.floor(rand() * 30 * DAY_MS);
    const hour = new Date(t).getUTCHours();
    if (rand() * HOURLY_MAX < HOURLY[hour]!) return t;
  }
}

/** A basket value in EUR cents: log-normal around €45, between €1.99 and €5,000. */
function amount(rand: Rand): number {
  const normal = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return Math.min(500_000, Math.max(199, Math.round(Math.exp(Math.log(4500) + 0.9 * normal))));
}

/**
 * A version-4-shaped UUID whose first 32 bits count the rows: unique per history, and ascending in
 * load order, so the primary key grows at its right edge during COPY instead of splitting pages all
 * over (random keys made the load markedly slower).
 */
function uuid(rand: Rand, n: number): string {
  const h = n.toString(16).padStart(8, '0') + hex(rand, 24);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[Math.floor(rand() * 4)]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * `n` historical orders of normal customers, spread over the 30 days before `now` (epoch ms) with a
 * day-night rhythm, as velocity rows. Customers 0, 1, 2… of the fixed population each place 1 to 15
 * orders (about 3 on average), on one to three devices, from home, from a mobile network shared
 * with other customers, or now and then elsewhere. The same (n, seed, now) gives the same rows, and
 * the first n rows of a longer history.
 */
export function* historicalOrders(n: number, seed: number, now: number): Generator<OrderKeys> {
  let produced = 0;
  for (let c = 0; produced < n; c++) {
    const customer = seedCustomer(c);
    const rand = streamRand('history', c, seed);
    const emailKey = keyOf.email(customer.email);
    const cardKeys = customer.cards.map((card) => keyOf.card(card.bin, card.last4));
    const deviceKeys = customer.devices.map(keyOf.device);
    const homeKey = keyOf.ip(customer.homeIp);
    const mobileKey = keyOf.ip(customer.mobileIp);
    const addressKeys = customer.shippingAddresses.map(keyOf.address);
    const orders = Math.min(15, 1 + Math.floor(-Math.log(1 - rand()) * 2.2));
    for (let j = 0; j < orders && produced < n; j++, produced++) {
      const where = rand();
      const ipKey =
        where < 0.7
          ? homeKey
          : where < 0.95
            ? mobileKey
            : keyOf.ip(sampleIpForCountry(customer.address.country, rand));
      yield {
        id: uuid(rand, produced),
        createdAt: orderTime(rand, now),
        // Card customers sometimes take the invoice option.
        cardKey: cardKeys.length > 0 && rand() < 0.9 ? pick(rand, cardKeys) : null,
        emailKey,
        deviceKey: pick(rand, deviceKeys),
        ipKey,
        addressKey: addressKeys.length > 1 && rand() < 0.2 ? addressKeys[1]! : addressKeys[0]!,
        amount: amount(rand),
      };
    }
  }
}
