/**
 * Geo signals: where the IP address is, against where the customer says they live and where the
 * goods go. Pure: the IP-to-country lookup is passed in (server.ts gives the real geoip-country
 * database, tests and the training script may give a table), so importing this file does no I/O.
 */
import { isIP } from 'node:net';
import type { Address, GeoSignals } from '../../lib/types.ts';
import { COUNTRY_CENTROIDS, IP_BLOCKS } from './ip-ranges.ts';

/** IP address to ISO 3166-1 alpha-2 country, or null when unknown (private, reserved, invalid). */
export type IpLookup = (ip: string) => string | null;

export interface GeoOptions {
  /** Billing-to-shipping country distance above which `SHIPPING_FAR` is reported. @default 1500 */
  longDistanceKm?: number;
}

export const GEO_DEFAULTS: Required<GeoOptions> = { longDistanceKm: 1500 };

const EARTH_RADIUS_KM = 6371;

/** Great-circle distance between two countries' centres, rounded to km; null if either is not in the table. */
export function countryDistanceKm(a: string, b: string): number | null {
  const p = COUNTRY_CENTROIDS[a.toUpperCase()];
  const q = COUNTRY_CENTROIDS[b.toUpperCase()];
  if (!p || !q) return null;
  const rad = Math.PI / 180;
  const dLat = (q[0] - p[0]) * rad;
  const dLon = (q[1] - p[1]) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(p[0] * rad) * Math.cos(q[0] * rad) * Math.sin(dLon / 2) ** 2;
  return Math.round(2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h))));
}

function sameAddress(a: Address, b: Address): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');
  return (
    a.country.toUpperCase() === b.country.toUpperCase() &&
    norm(a.postalCode) === norm(b.postalCode) &&
    norm(a.line1) === norm(b.line1)
  );
}

/** The lookup guarded: an invalid address or a throwing lookup is "unknown", never an error. */
function ipCountryOf(ip: string, lookup: IpLookup): string | null {
  if (isIP(ip) === 0) return null;
  try {
    const country = lookup(ip);
    return country ? country.toUpperCase() : null;
  } catch {
    return null;
  }
}

/**
 * Signals for one order. `billingMatchesShipping` compares whole addresses (country, postal code,
 * street line, ignoring case and punctuation); the distance compares countries, so it is 0 for two
 * addresses in one country.
 *
 * Reasons: `IP_COUNTRY_UNKNOWN`, `IP_COUNTRY_MISMATCH` (IP vs billing), `IP_SHIPPING_COUNTRY_MISMATCH`,
 * `SHIPPING_COUNTRY_MISMATCH` (billing vs shipping country), `SHIPPING_FAR`.
 */
export function geoSignals(
  ip: string,
  billing: Address,
  shipping: Address,
  lookup: IpLookup,
  options: GeoOptions = {},
): GeoSignals {
  const longDistanceKm = options.longDistanceKm ?? GEO_DEFAULTS.longDistanceKm;
  const billingCountry = billing.country.toUpperCase();
  const shippingCountry = shipping.country.toUpperCase();
  const ipCountry = ipCountryOf(ip, lookup);
  const ipCountryMatchesBilling = ipCountry === null ? null : ipCountry === billingCountry;
  const ipCountryMatchesShipping = ipCountry === null ? null : ipCountry === shippingCountry;
  const billingShippingDistanceKm = countryDistanceKm(billingCountry, shippingCountry);
  const reasons: string[] = [];
  if (ipCountry === null) reasons.push('IP_COUNTRY_UNKNOWN');
  if (ipCountryMatchesBilling === false) reasons.push('IP_COUNTRY_MISMATCH');
  if (ipCountryMatchesShipping === false) reasons.push('IP_SHIPPING_COUNTRY_MISMATCH');
  if (billingCountry !== shippingCountry) reasons.push('SHIPPING_COUNTRY_MISMATCH');
  if (billingShippingDistanceKm !== null && billingShippingDistanceKm > longDistanceKm)
    reasons.push('SHIPPING_FAR');
  return {
    ipCountry,
    ipCountryMatchesBilling,
    ipCountryMatchesShipping,
    billingMatchesShipping: sameAddress(billing, shipping),
    billingShippingDistanceKm,
    reasons,
  };
}

/** Countries `sampleIpForCountry` can place an address in. */
export const IP_SAMPLE_COUNTRIES: readonly string[] = Object.keys(IP_BLOCKS).sort();

interface Block {
  start: number;
  size: number;
}

function parseBlock(cidr: string): Block {
  const [address, bits] = cidr.split('/') as [string, string];
  const start = address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  return { start, size: 2 ** (32 - Number(bits)) };
}

// Parsed on first use, not at import; the seed samples hundreds of thousands of addresses.
let parsedBlocks: Map<string, readonly Block[]> | undefined;

/**
 * A consumer-ISP IPv4 address that the real geoip-country database maps to `country` (one of
 * `IP_SAMPLE_COUNTRIES`; other countries throw a RangeError). Two draws from `rand`; the last octet
 * is 1..254. For generating traffic only: never connect to these addresses.
 */
export function sampleIpForCountry(country: string, rand: () => number): string {
  parsedBlocks ??= new Map(Object.entries(IP_BLOCKS).map(([c, list]) => [c, list.map(parseBlock)]));
  const blocks = parsedBlocks.get(country.toUpperCase());
  if (!blocks)
    throw new RangeError(`no IP blocks for country '${country}' (have ${IP_SAMPLE_COUNTRIES.join(', ')})`);
  const { start, size } = blocks[Math.floor(rand() * blocks.length)]!;
  const offset = Math.floor(rand() * size);
  const n = start + (offset - (offset % 256)) + 1 + (offset % 254);
  return [
    Math.floor(n / 2 ** 24) % 256,
    Math.floor(n / 65536) % 256,
    Math.floor(n / 256) % 256,
    n % 256,
  ].join('.');
}
