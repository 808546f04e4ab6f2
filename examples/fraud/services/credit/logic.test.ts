import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { EUR_PER_UNIT as VELOCITY_FX } from '../velocity/logic.ts';
import {
  CREDIT_DEFAULTS,
  EUR_PER_UNIT,
  bureauFiles,
  bureauPerson,
  creditDecision,
  normaliseName,
  personKey,
  resolveCreditConfig,
  toEurCents,
  type BureauRecord,
} from './logic.ts';

const clean: BureauRecord = {
  openAccounts: 3,
  defaults36m: 0,
  latePayments12m: 0,
  inquiries6m: 1,
  monthsOnFile: 120,
};

describe('personKey', () => {
  it('GIVEN name variants of one person THEN one key', () => {
    assert.equal(normaliseName('  Müller,  Anna '), 'anna muller');
    assert.equal(normaliseName('ANNA MULLER'), 'anna muller');
    const key = personKey('Anna Müller', '1980-04-02', '10115');
    assert.equal(key, createHash('sha256').update('anna muller|1980-04-02|10115').digest('hex'));
    assert.equal(personKey('Müller Anna', ' 1980-04-02 ', '10 115'), key);
  });
  it('GIVEN another birthday or postal code THEN another key', () => {
    const key = personKey('Anna Müller', '1980-04-02', '10115');
    assert.notEqual(personKey('Anna Müller', '1980-04-03', '10115'), key);
    assert.notEqual(personKey('Anna Müller', '1980-04-02', '10117'), key);
  });
  it('GIVEN postal codes with letters THEN case and spacing do not matter', () => {
    assert.equal(
      personKey('Oliver Smith', '1990-01-01', 'sw1a 1aa'),
      personKey('Oliver Smith', '1990-01-01', 'SW1A1AA'),
    );
  });
});

describe('creditDecision', () => {
  const cases: [string, BureauRecord | null, number, string, string[]][] = [
    ['no file', null, 5000, 'unknown', ['CREDIT_NO_FILE']],
    ['a clean file and a normal amount', clean, 5000, 'good', []],
    ['a clean file at the good limit', clean, 150_000, 'good', []],
    ['a clean file above the good limit', clean, 150_001, 'limited', ['CREDIT_AMOUNT_HIGH']],
    ['one default and a small amount', { ...clean, defaults36m: 1 }, 20_000, 'limited', ['CREDIT_DEFAULTS']],
    [
      'one default and a larger amount',
      { ...clean, defaults36m: 1 },
      20_001,
      'poor',
      ['CREDIT_DEFAULTS', 'CREDIT_AMOUNT_HIGH'],
    ],
    ['two defaults', { ...clean, defaults36m: 2 }, 100, 'poor', ['CREDIT_DEFAULTS']],
    ['chronic late payments', { ...clean, latePayments12m: 6 }, 100, 'poor', ['CREDIT_LATE_PAYMENTS']],
    ['some late payments', { ...clean, latePayments12m: 3 }, 100, 'limited', ['CREDIT_LATE_PAYMENTS']],
    [
      'many applications and a thin file',
      { ...clean, inquiries6m: 5, monthsOnFile: 11 },
      100,
      'limited',
      ['CREDIT_MANY_INQUIRIES', 'CREDIT_THIN_FILE'],
    ],
  ];
  for (const [what, record, amount, decision, reasons] of cases) {
    it(`GIVEN ${what} THEN ${decision}`, () =>
      assert.deepEqual(creditDecision(record, amount), { decision, reasons }));
  }
  it('GIVEN stricter rules THEN they apply', () => {
    assert.deepEqual(creditDecision(clean, 60_000, { ...CREDIT_DEFAULTS.rules, maxAmountGood: 50_000 }), {
      decision: 'limited',
      reasons: ['CREDIT_AMOUNT_HIGH'],
    });
  });
});

describe('bureauPerson', () => {
  it('GIVEN an index THEN always the same person and file', () => {
    assert.deepEqual(bureauPerson(0), bureauPerson(0));
    assert.deepEqual(
      {
        name: bureauPerson(0).name,
        dateOfBirth: bureauPerson(0).dateOfBirth,
        address: bureauPerson(0).address,
        record: bureauPerson(0).record,
      },
      {
        name: 'Lena Schneider',
        dateOfBirth: '1978-11-11',
        address: { line1: 'Gartenweg 54', city: 'München', postalCode: '80773', country: 'DE' },
        record: { openAccounts: 4, defaults36m: 0, latePayments12m: 1, inquiries6m: 2, monthsOnFile: 348 },
      },
    );
  });
  it('GIVEN bureauFiles THEN every person by key, namesakes once', () => {
    const files = new Map(bureauFiles(3000));
    assert.ok(files.size > 2990 && files.size <= 3000, String(files.size));
    const p = bureauPerson(5);
    assert.deepEqual(files.get(personKey(p.name, p.dateOfBirth, p.address.postalCode)), p.record);
  });
  it('GIVEN 20k persons THEN most are good for a normal basket, some limited, few poor', () => {
    const counts: Record<string, number> = { good: 0, limited: 0, poor: 0 };
    for (let i = 0; i < 20_000; i++) counts[creditDecision(bureauPerson(i).record, 5000).decision]!++;
    assert.ok(
      counts.good! > 12_000 && counts.limited! > 3000 && counts.poor! > 1000 && counts.poor! < 3000,
      JSON.stringify(counts),
    );
  });
});

describe('money and config', () => {
  it("GIVEN the FX table THEN it is velocity's", () => {
    assert.deepEqual(EUR_PER_UNIT, VELOCITY_FX);
    assert.equal(toEurCents(10_000, 'USD'), 9200);
  });
  it('GIVEN env-style strings THEN numbers', () => {
    const c = resolveCreditConfig({ seed: { persons: '5000' }, rules: { maxAmountGood: '100000' } });
    assert.equal(c.seed.persons, 5000);
    assert.equal(c.rules.maxAmountGood, 100_000);
    assert.equal(c.rules.poorDefaults, 2);
    assert.equal(c.pool.max, 4);
  });
});
