/**
 * A fixed synthetic population: person `i` is always the same name, date of birth and address, on
 * every machine. The credit bureau (`bureauPerson`) and the velocity history (`seedCustomer`) draw
 * from it, so a customer of the history may also have a bureau file, as in life. Deterministic
 * and pure: a person is computed from its index, nothing is stored.
 */
import type { Address } from '../lib/types.ts';
import { COUNTRY_DATA } from './people-data.ts';

export { COUNTRY_DATA } from './people-data.ts';

/** A uniform draw in [0, 1). */
export type Rand = () => number;

/**
 * sfc32: 128 bits of state, so streams seeded apart never run into each other (with 32 bits, as in
 * mulberry32, streams of neighbouring customers overlapped and repeated ids and devices).
 */
function sfc32(a: number, b: number, c: number, d: number): Rand {
  return () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

/** A PRNG for (stream, index, seed): independent streams never share draws. */
export function streamRand(stream: string, index: number, seed = 0): Rand {
  const text = `${stream}|${index}|${seed}`;
  const state = [0x811c9dc5, 0x01000193 ^ 0x9e3779b9, 0x85ebca6b, 0xc2b2ae35];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    for (let k = 0; k < 4; k++) state[k] = Math.imul(state[k]! ^ ch, 0x01000193 + 2 * k);
  }
  const rand = sfc32(state[0]!, state[1]!, state[2]!, state[3]!);
  for (let i = 0; i < 12; i++) rand(); // mix the seed through the state
  return rand;
}

export function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

export const PERSON_COUNTRIES: readonly string[] = Object.keys(COUNTRY_DATA);
const TOTAL_WEIGHT = PERSON_COUNTRIES.reduce((s, c) => s + COUNTRY_DATA[c]!.weight, 0);

function country(rand: Rand): string {
  let x = rand() * TOTAL_WEIGHT;
  for (const c of PERSON_COUNTRIES) {
    x -= COUNTRY_DATA[c]!.weight;
    if (x < 0) return c;
  }
  return PERSON_COUNTRIES[0]!;
}

export function fillTemplate(rand: Rand, template: string): string {
  let s = '';
  for (const ch of template)
    s +=
      ch === '#'
        ? String(Math.floor(rand() * 10))
        : ch === 'A'
          ? String.fromCharCode(65 + Math.floor(rand() * 26))
          : ch;
  return s;
}

/** A street address in `country` (one of `PERSON_COUNTRIES`). */
export function addressIn(country: string, rand: Rand): Address {
  const data = COUNTRY_DATA[country];
  if (!data) throw new RangeError(`no address data for '${country}'`);
  const [city, postal] = pick(rand, data.cities);
  const street = pick(rand, data.streets);
  const number = 1 + Math.floor(rand() * 120);
  return {
    line1: data.numberFirst ? `${number} ${street}` : `${street} ${number}`,
    city,
    postalCode: fillTemplate(rand, postal),
    country,
  };
}

export interface Person {
  index: number;
  firstName: string;
  lastName: string;
  name: string;
  /** YYYY-MM-DD */
  dateOfBirth: string;
  address: Address;
  /** Where this person has mail (free-mail providers of their country). */
  mailDomains: readonly string[];
}

/** Person `index` of the fixed population (any index ≥ 0). */
export function syntheticPerson(index: number): Person {
  const rand = streamRand('person', index);
  const code = country(rand);
  const data = COUNTRY_DATA[code]!;
  const firstName = pick(rand, data.first);
  const lastName = pick(rand, data.last);
  const address = addressIn(code, rand);
  const year = 1945 + Math.floor(rand() * 61);
  const month = 1 + Math.floor(rand() * 12);
  const day = 1 + Math.floor(rand() * 28);
  return {
    index,
    firstName,
    lastName,
    name: `${firstName} ${lastName}`,
    dateOfBirth: `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`,
    address,
    mailDomains: data.mail,
  };
}
