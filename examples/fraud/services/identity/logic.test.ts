import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mailchecker from 'mailchecker';
import {
  FREE_MAIL_DOMAINS,
  identitySignals,
  isDisposableDomain,
  nameEmailSimilarity,
  parseEmail,
} from './logic.ts';

const anna = { name: 'Anna Müller', email: 'anna.mueller@gmx.de', phone: '0151 23456789' };

describe('parseEmail', () => {
  it('GIVEN well-formed addresses THEN local part and domain, lower-cased', () => {
    assert.deepEqual(parseEmail(' Anna.Mueller+shop@GMX.de '), {
      local: 'anna.mueller+shop',
      domain: 'gmx.de',
    });
    assert.deepEqual(parseEmail("o'brien@mail.example.co.uk"), {
      local: "o'brien",
      domain: 'mail.example.co.uk',
    });
  });
  it('GIVEN malformed addresses THEN null', () => {
    for (const bad of [
      '',
      'anna',
      '@gmx.de',
      'anna@',
      'anna@gmx',
      'anna..m@gmx.de',
      '.anna@gmx.de',
      'anna.@gmx.de',
      'an na@gmx.de',
      'anna@-gmx.de',
      'anna@gmx.d3',
      'a@b@gmx.de',
      `${'a'.repeat(65)}@gmx.de`,
    ]) {
      assert.equal(parseEmail(bad), null, bad);
    }
  });
});

describe('isDisposableDomain and FREE_MAIL_DOMAINS', () => {
  it('GIVEN a throwaway domain or a subdomain of one THEN disposable', () => {
    assert.equal(isDisposableDomain('mailinator.com'), true);
    assert.equal(isDisposableDomain('eu.mailinator.com'), true);
    assert.equal(isDisposableDomain('gmail.com'), false);
  });
  it('GIVEN the curated free-mail list THEN none of it is on the disposable list', () => {
    const disposable = mailchecker.blacklist();
    assert.deepEqual(
      [...FREE_MAIL_DOMAINS].filter((d) => disposable.has(d)),
      [],
    );
  });
});

describe('nameEmailSimilarity', () => {
  const cases: [string, string, number][] = [
    ['John Smith', 'john.smith', 1],
    ['John Smith', 'smith.john', 1],
    ['John Smith', 'jsmith84', 0.75],
    ['John Smith', 'smithj', 0.75],
    ['John Smith', 'j.smith', 0.75],
    ['John Smith', 'smith', 0.5],
    ['John Smith', 'xk7q9z', 0],
    ['John Smith', 'hello', 0],
    ['Anna Müller', 'anna.mueller', 1],
    ['Anna Müller', 'anna.muller', 1],
    ['Anna Müller', 'amuller', 0.75],
    ['Jean-Luc Picard', 'jl.picard', 0.33],
    ['François Côté', 'francois.cote+shop', 1],
    ['Łukasz Wójcik', 'lukasz.wojcik', 1],
    ['Li Wu', 'li.wu88', 1],
    ['Li Wu', 'oliwu', 0],
    ['', 'john', 0],
    ['John Smith', '1234', 0],
  ];
  for (const [name, local, expected] of cases) {
    it(`GIVEN "${name}" and "${local}" THEN ${expected}`, () =>
      assert.equal(nameEmailSimilarity(name, local), expected));
  }
});

describe('identitySignals', () => {
  it('GIVEN a consistent German customer THEN all good and free-mail noted', () => {
    assert.deepEqual(identitySignals(anna, { country: 'DE' }), {
      emailValid: true,
      emailDisposable: false,
      emailFreeMail: true,
      phoneValid: true,
      phoneCountry: 'DE',
      phoneCountryMatchesBilling: true,
      nameEmailSimilarity: 1,
      reasons: [],
    });
  });
  it('GIVEN a throwaway email, a British phone and billing in DE THEN every reason', () => {
    assert.deepEqual(
      identitySignals(
        { ...anna, email: 'xk7q9z@mailinator.com', phone: '+44 7400 123456' },
        { country: 'DE' },
      ),
      {
        emailValid: true,
        emailDisposable: true,
        emailFreeMail: false,
        phoneValid: true,
        phoneCountry: 'GB',
        phoneCountryMatchesBilling: false,
        nameEmailSimilarity: 0,
        reasons: ['EMAIL_DISPOSABLE', 'PHONE_COUNTRY_MISMATCH', 'NAME_EMAIL_MISMATCH'],
      },
    );
  });
  it('GIVEN an invalid email and phone THEN invalid, unknown phone country, no name reason', () => {
    assert.deepEqual(identitySignals({ ...anna, email: 'anna@', phone: '12345' }, { country: 'DE' }), {
      emailValid: false,
      emailDisposable: false,
      emailFreeMail: false,
      phoneValid: false,
      phoneCountry: null,
      phoneCountryMatchesBilling: null,
      nameEmailSimilarity: 0,
      reasons: ['EMAIL_INVALID', 'PHONE_INVALID'],
    });
  });
  it('GIVEN a national-format number THEN the billing country is its default region', () => {
    assert.equal(identitySignals({ ...anna, phone: '06 12 34 56 78' }, { country: 'FR' }).phoneCountry, 'FR');
    assert.equal(identitySignals({ ...anna, phone: '06 12 34 56 78' }, { country: 'ZZ' }).phoneValid, false);
  });
  it('GIVEN a configured threshold THEN NAME_EMAIL_MISMATCH follows it', () => {
    const c = { ...anna, email: 'amuller@firma.de' };
    assert.deepEqual(identitySignals(c, { country: 'DE' }).reasons, []);
    assert.deepEqual(identitySignals(c, { country: 'DE' }, { nameEmailMismatchBelow: 0.8 }).reasons, [
      'NAME_EMAIL_MISMATCH',
    ]);
  });
});
