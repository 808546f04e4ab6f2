import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { Address } from '../../lib/types.ts';
import { IP_BLOCKS } from './ip-ranges.ts';
import {
  IP_SAMPLE_COUNTRIES,
  countryDistanceKm,
  geoSignals,
  sampleIpForCountry,
  type IpLookup,
} from './logic.ts';

const table: Record<string, string> = { '198.51.100.7': 'DE', '203.0.113.9': 'ng', '2001:db8::1': 'FR' };
const lookup: IpLookup = (ip) => table[ip] ?? null;
const berlin: Address = { line1: 'Hauptstraße 5', city: 'Berlin', postalCode: '10115', country: 'DE' };
const paris: Address = { line1: '12 Rue de Rivoli', city: 'Paris', postalCode: '75001', country: 'FR' };

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('countryDistanceKm', () => {
  it('GIVEN two known countries THEN the great-circle distance between their centres, in whole km', () => {
    assert.equal(countryDistanceKm('DE', 'FR'), 816);
    assert.equal(countryDistanceKm('de', 'US'), 7861);
    assert.equal(countryDistanceKm('DE', 'NG'), 4682);
    assert.equal(countryDistanceKm('GB', 'IN'), 7663);
    assert.equal(countryDistanceKm('SE', 'SE'), 0);
  });
  it('GIVEN a country outside the table THEN null', () => {
    assert.equal(countryDistanceKm('DE', 'ZZ'), null);
  });
});

describe('geoSignals', () => {
  it('GIVEN a domestic order from a domestic IP WHEN checked THEN everything matches and no reason', () => {
    assert.deepEqual(geoSignals('198.51.100.7', berlin, { ...berlin, line1: 'HAUPTSTRAßE 5' }, lookup), {
      ipCountry: 'DE',
      ipCountryMatchesBilling: true,
      ipCountryMatchesShipping: true,
      billingMatchesShipping: true,
      billingShippingDistanceKm: 0,
      reasons: [],
    });
  });
  it('GIVEN a Nigerian IP, German billing and French shipping THEN every mismatch is reported', () => {
    assert.deepEqual(geoSignals('203.0.113.9', berlin, paris, lookup), {
      ipCountry: 'NG',
      ipCountryMatchesBilling: false,
      ipCountryMatchesShipping: false,
      billingMatchesShipping: false,
      billingShippingDistanceKm: 816,
      reasons: ['IP_COUNTRY_MISMATCH', 'IP_SHIPPING_COUNTRY_MISMATCH', 'SHIPPING_COUNTRY_MISMATCH'],
    });
  });
  it('GIVEN shipping far away THEN SHIPPING_FAR above the configured distance only', () => {
    const us: Address = { line1: '1 Main St', city: 'Austin', postalCode: '73301', country: 'US' };
    assert.deepEqual(geoSignals('198.51.100.7', berlin, us, lookup).reasons, [
      'IP_SHIPPING_COUNTRY_MISMATCH',
      'SHIPPING_COUNTRY_MISMATCH',
      'SHIPPING_FAR',
    ]);
    assert.deepEqual(geoSignals('198.51.100.7', berlin, us, lookup, { longDistanceKm: 8000 }).reasons, [
      'IP_SHIPPING_COUNTRY_MISMATCH',
      'SHIPPING_COUNTRY_MISMATCH',
    ]);
  });
  it('GIVEN an IPv6 address THEN it is looked up too', () => {
    assert.equal(geoSignals('2001:db8::1', paris, paris, lookup).ipCountry, 'FR');
  });
  it('GIVEN an unknown, an invalid address or a throwing lookup THEN ipCountry is null and the matches are unknown', () => {
    for (const [ip, l] of [
      ['192.0.2.1', lookup],
      ['not-an-ip', lookup],
      [
        '198.51.100.7',
        () => {
          throw new Error('boom');
        },
      ],
    ] as const) {
      const s = geoSignals(ip, berlin, berlin, l);
      assert.equal(s.ipCountry, null);
      assert.equal(s.ipCountryMatchesBilling, null);
      assert.equal(s.ipCountryMatchesShipping, null);
      assert.deepEqual(s.reasons, ['IP_COUNTRY_UNKNOWN']);
    }
  });
  it('GIVEN addresses differing only in case and punctuation THEN they match; another street does not', () => {
    assert.equal(
      geoSignals('198.51.100.7', berlin, { ...berlin, line1: 'hauptstraße, 5', postalCode: ' 10115' }, lookup)
        .billingMatchesShipping,
      true,
    );
    assert.equal(
      geoSignals('198.51.100.7', berlin, { ...berlin, line1: 'Hauptstraße 7' }, lookup)
        .billingMatchesShipping,
      false,
    );
  });
});

describe('sampleIpForCountry', () => {
  it('GIVEN fixed draws THEN a fixed address with the last octet in 1..254', () => {
    assert.equal(
      sampleIpForCountry('DE', () => 0),
      '91.0.0.1',
    );
    assert.equal(
      sampleIpForCountry('de', () => 0.999999),
      '84.191.255.252',
    );
    assert.equal(
      sampleIpForCountry('NG', () => 0.5),
      '102.92.0.17',
    );
  });
  it('GIVEN a country without blocks THEN a RangeError naming it', () => {
    assert.throws(() => sampleIpForCountry('ZZ', Math.random), { name: 'RangeError', message: /'ZZ'/ });
  });
  it('GIVEN the generator countries THEN every one has blocks', () => {
    for (const c of [
      'DE',
      'FR',
      'NL',
      'GB',
      'US',
      'CH',
      'AT',
      'PL',
      'SE',
      'IT',
      'ES',
      'NG',
      'RU',
      'CN',
      'BR',
      'IN',
      'BE',
      'VN',
      'ID',
      'RO',
      'UA',
      'PK',
    ]) {
      assert.ok(IP_SAMPLE_COUNTRIES.includes(c), c);
    }
  });
  it('GIVEN the real geoip-country database THEN 8.8.8.8 is in the US and every sampled address is in its country', () => {
    const geoip = createRequire(import.meta.url)('geoip-country') as {
      lookup(ip: string): { country: string } | null;
    };
    assert.equal(geoip.lookup('8.8.8.8')?.country, 'US');
    const rand = mulberry32(42);
    for (const country of IP_SAMPLE_COUNTRIES) {
      // Both ends of every block, then random addresses.
      for (const cidr of IP_BLOCKS[country]!) {
        const [start, bits] = cidr.split('/') as [string, string];
        const first = start.split('.').reduce((a, o) => a * 256 + Number(o), 0) + 1;
        const last = first + 2 ** (32 - Number(bits)) - 3;
        for (const n of [first, last]) {
          const ip = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
          assert.equal(geoip.lookup(ip)?.country, country, `${cidr}: ${ip}`);
        }
      }
      for (let i = 0; i < 200; i++) {
        const ip = sampleIpForCountry(country, rand);
        assert.equal(geoip.lookup(ip)?.country, country, ip);
      }
    }
  });
});
