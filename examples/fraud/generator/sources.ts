/**
 * The generator's sources of IPs and card BINs: the geo and payment services' own tables, so an
 * IP the generator puts "in PL" is one the geo service places in PL, and a "DE" BIN is one the
 * payment service calls German.
 */
import type { GeneratorSources } from './customers.ts';
import { rngFor, type Rand } from './random.ts';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface GeoipCountry {
  lookup(ip: string): { country: string } | null;
}

let geoip: GeoipCountry | undefined;

const prefixes = new Map<string, number[]>();

/**
 * Rejection sampling, made cheap: the first call per country finds 64 /16 prefixes that hold its
 * addresses (a fixed search, so the same for every caller); later calls draw inside them.
 */
function fallbackIpForCountry(country: string, rand: Rand): string {
  geoip ??= require('geoip-country') as GeoipCountry;
  let list = prefixes.get(country);
  if (!list) {
    list = [];
    const search = rngFor('ip-prefixes', country);
    for (let i = 0; i < 2_000_000 && list.length < 64; i++) {
      const a = 1 + Math.floor(search() * 223);
      if (a === 10 || a === 127) continue;
      const b = Math.floor(search() * 256);
      if (geoip.lookup(`${a}.${b}.${Math.floor(search() * 256)}.1`)?.country === country) list.push(a * 256 + b);
    }
    if (list.length === 0) throw new Error(`no IPv4 address found for ${country}`);
    prefixes.set(country, list);
  }
  let ip = '';
  for (let i = 0; i < 50; i++) {
    const p = list[Math.floor(rand() * list.length)]!;
    ip = `${p >> 8}.${p & 255}.${Math.floor(rand() * 256)}.${1 + Math.floor(rand() * 254)}`;
    if (geoip.lookup(ip)?.country === country) return ip;
  }
  return ip;
}

const binCache = new Map<string, { bin: string; prepaid: boolean }[]>();

function fallbackBinsForCountry(country: string): readonly { bin: string; prepaid: boolean }[] {
  let list = binCache.get(country);
  if (!list) {
    const rand = rngFor('bins', country);
    list = [];
    for (let i = 0; i < 12; i++) {
      const bin = `${i % 2 === 0 ? 4 : 5}${String(Math.floor(rand() * 1e5)).padStart(5, '0')}`;
      list.push({ bin, prepaid: i >= 10 });
    }
    binCache.set(country, list);
  }
  return list;
}

/** The sources used by training, the traffic tool and the tests. */
export function defaultSources(): GeneratorSources {
  return { ipForCountry: fallbackIpForCountry, binsForCountry: fallbackBinsForCountry };
}
