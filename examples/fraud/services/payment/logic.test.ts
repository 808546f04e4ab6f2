import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Address } from '../../lib/types.ts';
import {
  BIN_TABLE,
  binInfo,
  binScheme,
  binsForCountry,
  ibanInfo,
  paymentSignals,
  sampleBinForCountry,
} from './logic.ts';

const de: Address = { line1: 'Hauptstraße 5', city: 'Berlin', postalCode: '10115', country: 'DE' };

describe('binScheme', () => {
  it('GIVEN BINs in each scheme range THEN the scheme; outside or malformed THEN null', () => {
    assert.equal(binScheme('455600'), 'visa');
    assert.equal(binScheme('51000000'), 'mastercard');
    assert.equal(binScheme('559999'), 'mastercard');
    assert.equal(binScheme('222100'), 'mastercard');
    assert.equal(binScheme('272099'), 'mastercard');
    assert.equal(binScheme('272100'), null);
    assert.equal(binScheme('222099'), null);
    assert.equal(binScheme('340000'), 'amex');
    assert.equal(binScheme('371449'), 'amex');
    assert.equal(binScheme('601100'), null, 'Discover is not accepted');
    assert.equal(binScheme('45560'), null, 'too short');
    assert.equal(binScheme('455600123'), null, 'too long');
    assert.equal(binScheme('4556a0'), null);
  });
});

describe('binInfo', () => {
  it('GIVEN a curated BIN (6 or 8 digits) THEN its table entry', () => {
    assert.deepEqual(binInfo('535111'), {
      prefix: '535111',
      scheme: 'mastercard',
      country: 'DE',
      prepaid: true,
      source: 'table',
    });
    assert.deepEqual(binInfo('45560012'), {
      prefix: '455600',
      scheme: 'visa',
      country: 'DE',
      prepaid: false,
      source: 'table',
    });
  });
  it('GIVEN a valid BIN outside the table THEN a deterministic fallback country', () => {
    assert.deepEqual(binInfo('411111'), {
      prefix: '411111',
      scheme: 'visa',
      country: 'US',
      prepaid: false,
      source: 'fallback',
    });
    assert.deepEqual(binInfo('555555'), {
      prefix: '555555',
      scheme: 'mastercard',
      country: 'ID',
      prepaid: false,
      source: 'fallback',
    });
    assert.deepEqual(binInfo('41111199'), binInfo('41111100'), 'only the first six digits count');
  });
  it('GIVEN many fallback BINs THEN about 3% are prepaid', () => {
    let prepaid = 0;
    for (let i = 0; i < 10_000; i++) if (binInfo(String(410_000 + i))!.prepaid) prepaid++;
    assert.ok(prepaid > 200 && prepaid < 400, String(prepaid));
  });
  it('GIVEN an invalid BIN THEN null', () => {
    assert.equal(binInfo('601100'), null);
  });
});

describe('BIN_TABLE and binsForCountry', () => {
  it('GIVEN the table THEN every prefix is unique, valid for its scheme, and no prefix shadows another', () => {
    const prefixes = BIN_TABLE.map((b) => b.prefix);
    assert.equal(new Set(prefixes).size, prefixes.length);
    for (const b of BIN_TABLE) assert.equal(binScheme(b.prefix), b.scheme, b.prefix);
    for (const a of prefixes)
      for (const b of prefixes) if (a !== b) assert.ok(!b.startsWith(a), `${a} shadows ${b}`);
  });
  it('GIVEN each generator country THEN at least one normal BIN; most also a prepaid one', () => {
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
      assert.ok(
        binsForCountry(c).some((b) => !b.prepaid),
        c,
      );
    }
    assert.deepEqual(binsForCountry('de'), [
      { bin: '455600', prepaid: false },
      { bin: '520416', prepaid: false },
      { bin: '492910', prepaid: false },
      { bin: '535111', prepaid: true },
      { bin: '416574', prepaid: true },
    ]);
    assert.deepEqual(binsForCountry('ZZ'), []);
  });
  it('GIVEN a BIN from binsForCountry THEN binInfo places it in that country', () => {
    for (const b of BIN_TABLE) assert.equal(binInfo(binsForCountry(b.country)[0]!.bin)!.country, b.country);
  });
});

describe('sampleBinForCountry', () => {
  function rng(seed: number): () => number {
    let a = seed;
    return () => (a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 4294967296;
  }
  it('GIVEN a country THEN BINs that binInfo places there, many different ones, prepaid only when asked', () => {
    const rand = rng(1);
    const bins = Array.from({ length: 200 }, () => sampleBinForCountry('DE', rand));
    for (const bin of bins)
      assert.deepEqual([binInfo(bin)?.country, binInfo(bin)?.prepaid], ['DE', false], bin);
    assert.ok(new Set(bins).size > 190);
    assert.equal(binInfo(sampleBinForCountry('fr', rand, true))?.prepaid, true);
  });
  it('GIVEN the same draws THEN the same BIN; an unknown country THEN a RangeError', () => {
    assert.equal(sampleBinForCountry('PL', rng(7)), sampleBinForCountry('PL', rng(7)));
    assert.throws(() => sampleBinForCountry('ZZ', Math.random), RangeError);
  });
});

describe('ibanInfo', () => {
  it('GIVEN a valid IBAN, spaced or not THEN valid with its country', () => {
    assert.deepEqual(ibanInfo('DE89 3704 0044 0532 0130 00'), { valid: true, country: 'DE' });
    assert.deepEqual(ibanInfo('gb29nwbk60161331926819'), { valid: true, country: 'GB' });
  });
  it('GIVEN a wrong check digit or garbage THEN invalid without country', () => {
    assert.deepEqual(ibanInfo('DE88370400440532013000'), { valid: false, country: null });
    assert.deepEqual(ibanInfo('hello'), { valid: false, country: null });
  });
});

describe('paymentSignals', () => {
  it('GIVEN a domestic card THEN valid, matching, no reason', () => {
    assert.deepEqual(paymentSignals({ method: 'card', bin: '455600', last4: '1234' }, de), {
      method: 'card',
      binValid: true,
      binCountry: 'DE',
      binCountryMatchesBilling: true,
      binPrepaid: false,
      ibanValid: null,
      ibanCountry: null,
      ibanCountryMatchesBilling: null,
      reasons: [],
    });
  });
  it('GIVEN a foreign prepaid card THEN mismatch and prepaid reasons', () => {
    const s = paymentSignals({ method: 'card', bin: '519863', last4: '0001' }, de);
    assert.equal(s.binCountry, 'NG');
    assert.equal(s.binCountryMatchesBilling, false);
    assert.equal(s.binPrepaid, true);
    assert.deepEqual(s.reasons, ['BIN_COUNTRY_MISMATCH', 'BIN_PREPAID']);
  });
  it('GIVEN an invalid BIN or last4 THEN BIN_INVALID and unknown country', () => {
    for (const payment of [
      { method: 'card', bin: '601100', last4: '1234' },
      { method: 'card', bin: '455600', last4: '12a4' },
    ] as const) {
      const s = paymentSignals(payment, de);
      assert.equal(s.binValid, false);
      assert.equal(s.binCountry, null);
      assert.equal(s.binCountryMatchesBilling, null);
      assert.equal(s.binPrepaid, null);
      assert.deepEqual(s.reasons, ['BIN_INVALID']);
    }
  });
  it('GIVEN IBANs THEN validity and country against billing', () => {
    const home = paymentSignals({ method: 'iban', iban: 'DE89370400440532013000' }, de);
    assert.deepEqual(
      [home.ibanValid, home.ibanCountry, home.ibanCountryMatchesBilling, home.reasons, home.binValid],
      [true, 'DE', true, [], null],
    );
    const away = paymentSignals({ method: 'iban', iban: 'GB29NWBK60161331926819' }, de);
    assert.deepEqual([away.ibanCountryMatchesBilling, away.reasons], [false, ['IBAN_COUNTRY_MISMATCH']]);
    const bad = paymentSignals({ method: 'iban', iban: 'DE00370400440532013000' }, de);
    assert.deepEqual(
      [bad.ibanValid, bad.ibanCountry, bad.ibanCountryMatchesBilling, bad.reasons],
      [false, null, null, ['IBAN_INVALID']],
    );
  });
  it('GIVEN invoice or pay-later THEN no instrument signals', () => {
    for (const method of ['invoice', 'paylater'] as const) {
      const s = paymentSignals({ method }, de);
      assert.deepEqual(s, {
        method,
        binValid: null,
        binCountry: null,
        binCountryMatchesBilling: null,
        binPrepaid: null,
        ibanValid: null,
        ibanCountry: null,
        ibanCountryMatchesBilling: null,
        reasons: [],
      });
    }
  });
});
