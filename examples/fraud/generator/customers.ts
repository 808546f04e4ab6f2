/**
 * The generator's population. A customer is a pure function of (world seed, index): nothing is
 * stored, so a world can hold millions of customers and any process (training, the traffic tool,
 * a test) derives the same person with the same email, devices, cards and home IP.
 */
import { composeIBAN, getCountrySpecifications, isValidBBAN, isValidIBAN } from 'ibantools';
import type { Address, Currency } from '../lib/types.ts';
import {
  COMPANY_MAIL,
  COUNTRIES,
  COUNTRY_BY_CODE,
  COUNTRY_WEIGHTS,
  DISPOSABLE_MAIL,
  GLOBAL_MAIL,
  type CountryProfile,
} from './data.ts';
import { seedCustomer } from '../db/seed.ts';
import { chance, digits, hex, int, letters, pick, rngFor, weighted, type Rand } from './random.ts';

/** What the generator needs from the signal services' tables, so its data matches theirs. */
export interface GeneratorSources {
  /** An IPv4 address that the geo service places in `country`. */
  ipForCountry(country: string, rand: Rand): string;
  /** Card BINs the payment service places in `country`; prepaid ranges flagged. */
  binsForCountry(country: string): readonly { bin: string; prepaid: boolean }[];
}

export interface Card {
  bin: string;
  last4: string;
}

export interface Customer {
  index: number;
  country: string;
  currency: Currency;
  firstName: string;
  lastName: string;
  name: string;
  email: string;
  phone: string;
  dateOfBirth: string;
  address: Address;
  /** Where this customer has goods sent: home first, some also work. */
  shippingAddresses: readonly Address[];
  devices: readonly string[];
  homeIp: string;
  /** A carrier-grade NAT address shared with other customers; null for strangers. */
  mobileIp: string | null;
  /** Part of the velocity service's seeded history (so its email, devices and cards are known). */
  known: boolean;
  cards: readonly Card[];
  /** null where IBANs do not exist (US). */
  iban: string | null;
  /** How much this customer prefers each payment method, multiplied with the merchant's offer. */
  methodTaste: { card: number; iban: number; invoice: number; paylater: number };
}

export interface World {
  seed: number;
  /**
   * Customers 0..customers-1 are people of the shared population (db/people.ts) who shopped in the
   * velocity service's seeded history; higher indexes are first-time buyers the stack never saw.
   */
  customers: number;
  /** Size of the velocity history these customers come from (it sets how many share a mobile IP). */
  historyOrders: number;
  sources: GeneratorSources;
}

export function fill(rand: Rand, template: string): string {
  let s = '';
  for (const ch of template)
    s += ch === '#' ? digits(rand, 1) : ch === 'A' ? letters(rand, 1).toUpperCase() : ch;
  return s;
}

export function countryProfile(code: string): CountryProfile {
  const c = COUNTRY_BY_CODE.get(code);
  if (!c) throw new Error(`no country profile for ${code}`);
  return c;
}

export function randomCountry(rand: Rand): string {
  return weighted(rand, COUNTRY_WEIGHTS);
}

export function randomAddress(rand: Rand, country: string): Address {
  const c = countryProfile(country);
  const city = pick(rand, c.cities);
  const street = pick(rand, c.streets);
  const n = String(int(rand, 1, 120));
  return {
    line1: c.streetFirst ? `${street} ${n}` : `${n} ${street}`,
    city: city.name,
    postalCode: fill(rand, city.postal),
    country,
  };
}

export function randomPhone(rand: Rand, country: string): string {
  return fill(rand, pick(rand, countryProfile(country).phones));
}

/** ASCII local part from a name: `Müller` -> `muller`, `de Jong` -> `dejong`. */
export function asciiName(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ł/g, 'l')
    .toLowerCase()
    .replace(/[^a-z]/g, '');
}

const NICKNAMES = ['sunny', 'blue', 'tiger', 'pixel', 'nova', 'happy', 'wolf', 'star', 'mango', 'rocket'];

/**
 * An email a real person with this name would plausibly own. `suffix` (digits) keeps addresses of
 * namesakes apart, as mail providers do.
 */
export function emailForName(
  rand: Rand,
  first: string,
  last: string,
  country: string,
  suffix: string,
): string {
  const f = asciiName(first);
  const l = asciiName(last);
  const domain = chance(rand, 0.1)
    ? pick(rand, COMPANY_MAIL)
    : chance(rand, 0.5)
      ? pick(rand, GLOBAL_MAIL)
      : pick(rand, countryProfile(country).mail);
  const style = weighted(rand, { dotted: 50, joined: 15, initial: 12, nick: 13, underscore: 10 });
  const local =
    style === 'dotted'
      ? `${f}.${l}${suffix}`
      : style === 'joined'
        ? `${f}${l}${suffix}`
        : style === 'initial'
          ? `${f[0] ?? 'x'}.${l}${suffix}`
          : style === 'underscore'
            ? `${f}_${l[0] ?? 'x'}${suffix}`
            : `${pick(rand, NICKNAMES)}${pick(rand, NICKNAMES)}${suffix}`;
  return `${local}@${domain}`;
}

/** A throwaway-looking local part: no relation to any name. */
export function randomLocalPart(rand: Rand): string {
  return `${letters(rand, int(rand, 5, 9))}${digits(rand, int(rand, 1, 4))}`;
}

export function deviceId(rand: Rand): string {
  return `dev-${hex(rand, 16)}`;
}

export function dateOfBirth(rand: Rand): string {
  const year = int(rand, 1945, 2005);
  return `${year}-${String(int(rand, 1, 12)).padStart(2, '0')}-${String(int(rand, 1, 28)).padStart(2, '0')}`;
}

export function randomCard(rand: Rand, sources: GeneratorSources, country: string, prepaid?: boolean): Card {
  const all = sources.binsForCountry(country);
  const wanted = prepaid === undefined ? all : all.filter((b) => b.prepaid === prepaid);
  const list = wanted.length > 0 ? wanted : all;
  if (list.length === 0) throw new Error(`no card BINs for ${country}`);
  return { bin: pick(rand, list).bin, last4: digits(rand, 4) };
}

const specs = getCountrySpecifications();

/** A random BBAN matching the country's format (`^[0-9]{10}[A-Z0-9]{11}$`-style expressions). */
function randomBban(rand: Rand, country: string): string {
  const re = specs[country]?.bban_regexp;
  if (!re) throw new Error(`no IBAN format for ${country}`);
  let out = '';
  for (const m of re.matchAll(/\[([^\]]+)\]\{(\d+)\}/g)) {
    const set = m[1]!;
    const n = Number(m[2]);
    const alphabet =
      (set.includes('A-Z') ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' : '') +
      (set.includes('0-9') ? '0123456789' : '') +
      (set.includes('a-z') ? 'abcdefghijklmnopqrstuvwxyz' : '');
    out += letters(rand, n, alphabet);
  }
  return out;
}

/**
 * A valid IBAN of `country`: random BBANs until ibantools accepts one (some countries carry a
 * national check digit, which a random BBAN meets about once in 10-97 tries).
 */
export function ibanFor(rand: Rand, country: string): string {
  if (country === 'FR') {
    // The RIB key is computed, not searched for: 97 tries at ~8 µs each would dominate generation.
    const bank = digits(rand, 5);
    const branch = digits(rand, 5);
    const account = digits(rand, 11);
    const key = 97 - ((89 * Number(bank) + 15 * Number(branch) + 3 * Number(account)) % 97);
    const iban = composeIBAN({
      countryCode: 'FR',
      bban: `${bank}${branch}${account}${String(key).padStart(2, '0')}`,
    });
    if (iban && isValidIBAN(iban)) return iban;
  }
  for (let i = 0; i < 2000; i++) {
    const bban = randomBban(rand, country);
    if (!isValidBBAN(bban, country)) continue;
    const iban = composeIBAN({ countryCode: country, bban });
    if (iban && isValidIBAN(iban)) return iban;
  }
  throw new Error(`could not generate a valid IBAN for ${country}`);
}

const CACHE_LIMIT = 20_000;
const cache = new Map<string, Customer>();

/**
 * Customer `index` of `world`: always the same person for the same seed and index. Frequent
 * shoppers come back often, so the most recent ones are kept (deriving one costs ~50-300 µs).
 */
export function customerAt(world: World, index: number): Customer {
  const key = `${world.seed}:${world.historyOrders}:${index}`;
  const hit = cache.get(key);
  if (hit) {
    // Re-insert so the Map's insertion order is recency order.
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const c = index < world.customers ? knownCustomer(world, index) : deriveCustomer(world, index);
  cache.set(key, c);
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  return c;
}

/**
 * A customer of the seeded history: the same person, email, devices, cards, home and mobile IP and
 * shipping addresses as the velocity seed (db/seed.ts) and the credit bureau hold. The history
 * carries no phone or IBAN, so those come from this generator's own draws.
 */
function knownCustomer(world: World, index: number): Customer {
  const h = seedCustomer(index);
  const rand = rngFor(world.seed, 'known', index);
  const country = h.address.country;
  const phoneCountry = chance(rand, 0.03) ? pick(rand, COUNTRIES).code : country;
  const cards = h.cards.length > 0 ? h.cards : [randomCard(rand, world.sources, country, false)];
  const hasIban = Boolean(specs[country]?.bban_regexp);
  const taste = { card: 0.5, iban: hasIban ? 0.3 : 0, invoice: 0.3, paylater: 0.3 };
  taste[h.method] += 3;
  return {
    index,
    country,
    currency: countryProfile(country).currency,
    firstName: h.firstName,
    lastName: h.lastName,
    name: h.name,
    email: h.email,
    phone: randomPhone(rand, phoneCountry),
    dateOfBirth: h.dateOfBirth,
    address: h.address,
    shippingAddresses: h.shippingAddresses,
    devices: h.devices,
    homeIp: h.homeIp,
    mobileIp: h.mobileIp,
    known: true,
    cards,
    iban: hasIban ? ibanFor(rngFor(world.seed, 'iban', index), country) : null,
    methodTaste: taste,
  };
}

/** A first-time buyer: nobody in the history, drawn by this generator alone. */
function deriveCustomer(world: World, index: number): Customer {
  const rand = rngFor(world.seed, 'customer', index);
  const country = randomCountry(rand);
  const profile = countryProfile(country);
  const firstName = pick(rand, profile.firstNames);
  const lastName = pick(rand, profile.lastNames);
  // A few expats: phone or card from another country than where they live.
  const phoneCountry = chance(rand, 0.03) ? pick(rand, COUNTRIES).code : country;
  const cardCountry = chance(rand, 0.03) ? pick(rand, COUNTRIES).code : country;
  const cards = [randomCard(rand, world.sources, cardCountry, chance(rand, 0.04))];
  if (chance(rand, 0.3)) cards.push(randomCard(rand, world.sources, country, false));
  const devices = [deviceId(rand)];
  if (chance(rand, 0.5)) devices.push(deviceId(rand));
  if (chance(rand, 0.2)) devices.push(deviceId(rand));
  // Households: 6% of neighbouring index pairs shop from one shared tablet.
  if (rngFor(world.seed, 'household', index >> 1)() < 0.06)
    devices.unshift(deviceId(rngFor(world.seed, 'household-device', index >> 1)));
  const email = emailForName(rand, firstName, lastName, country, String(index));
  const address = randomAddress(rand, country);
  return {
    index,
    country,
    currency: profile.currency,
    firstName,
    lastName,
    name: `${firstName} ${lastName}`,
    // About 1% of real customers hide behind a throwaway-mail domain.
    email: chance(rand, 0.01) ? `${email.split('@')[0]}@${pick(rand, DISPOSABLE_MAIL)}` : email,
    phone: randomPhone(rand, phoneCountry),
    dateOfBirth: dateOfBirth(rand),
    address,
    shippingAddresses: [address],
    devices,
    homeIp: world.sources.ipForCountry(country, rand),
    mobileIp: null,
    known: false,
    cards,
    iban: specs[country]?.bban_regexp ? ibanFor(rand, country) : null,
    methodTaste: {
      card: 0.5 + rand(),
      iban: specs[country]?.bban_regexp ? 0.3 + rand() : 0,
      invoice: 0.3 + rand(),
      paylater: 0.3 + rand(),
    },
  };
}
