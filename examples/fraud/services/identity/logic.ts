/**
 * Identity signals: is the email well-formed, throwaway or free-mail; is the phone number real and
 * from the billing country; does the email look like it belongs to the named customer. Pure (the
 * disposable-domain list and phone metadata are data inside their packages).
 */
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import mailchecker from 'mailchecker';
import type { Address, IdentitySignals, Order } from '../../lib/types.ts';

/**
 * Free-mail providers: anyone can open an address in a minute, so the address says little about who
 * owns it (not a fraud sign on its own: most consumers use one). Global and the generator
 * countries' big local providers.
 */
export const FREE_MAIL_DOMAINS: ReadonlySet<string> = new Set([
  // global
  'gmail.com',
  'googlemail.com',
  'outlook.com',
  'hotmail.com',
  'live.com',
  'msn.com',
  'yahoo.com',
  'ymail.com',
  'rocketmail.com',
  'aol.com',
  'icloud.com',
  'me.com',
  'mac.com',
  'proton.me',
  'protonmail.com',
  'tutanota.com',
  'zoho.com',
  'mail.com',
  'email.com',
  'gmx.com',
  'gmx.net',
  // DE, AT, CH
  'gmx.de',
  'web.de',
  't-online.de',
  'freenet.de',
  'posteo.de',
  'arcor.de',
  'online.de',
  'vodafone.de',
  'yahoo.de',
  'hotmail.de',
  'outlook.de',
  'live.de',
  'gmx.at',
  'aon.at',
  'chello.at',
  'gmx.ch',
  'bluewin.ch',
  'sunrise.ch',
  'hispeed.ch',
  // FR, BE, NL
  'orange.fr',
  'free.fr',
  'laposte.net',
  'sfr.fr',
  'wanadoo.fr',
  'yahoo.fr',
  'hotmail.fr',
  'outlook.fr',
  'live.fr',
  'telenet.be',
  'skynet.be',
  'ziggo.nl',
  'kpnmail.nl',
  'hetnet.nl',
  'home.nl',
  'planet.nl',
  'live.nl',
  // GB, US
  'yahoo.co.uk',
  'hotmail.co.uk',
  'live.co.uk',
  'btinternet.com',
  'sky.com',
  'virginmedia.com',
  'comcast.net',
  'verizon.net',
  'att.net',
  // IT, ES, PL, SE
  'libero.it',
  'virgilio.it',
  'tiscali.it',
  'alice.it',
  'yahoo.it',
  'hotmail.it',
  'telefonica.net',
  'yahoo.es',
  'hotmail.es',
  'outlook.es',
  'wp.pl',
  'o2.pl',
  'onet.pl',
  'interia.pl',
  'telia.com',
  'spray.se',
  'bredband.net',
  // elsewhere
  'mail.ru',
  'yandex.ru',
  'rambler.ru',
  'list.ru',
  'bk.ru',
  'inbox.ru',
  'ukr.net',
  'i.ua',
  'seznam.cz',
  'qq.com',
  '163.com',
  '126.com',
  'sina.com',
  'uol.com.br',
  'bol.com.br',
  'terra.com.br',
  'yahoo.com.br',
  'rediffmail.com',
  'yahoo.in',
  'yahoo.co.in',
]);

export interface IdentityOptions {
  /** `nameEmailSimilarity` below this reports `NAME_EMAIL_MISMATCH`. @default 0.25 */
  nameEmailMismatchBelow?: number;
}

export const IDENTITY_DEFAULTS: Required<IdentityOptions> = { nameEmailMismatchBelow: 0.25 };

// Practical RFC 5321 subset: dot-atom local part (no leading, trailing or double dots), host names
// with a letter TLD. Quoted local parts and IP-literal domains are valid but never real customers.
const LOCAL = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Splits a syntactically valid address into its lower-cased local part and domain, or null. */
export function parseEmail(email: string): { local: string; domain: string } | null {
  const e = email.trim().toLowerCase();
  const at = e.lastIndexOf('@');
  if (at <= 0 || e.length > 254) return null;
  const local = e.slice(0, at);
  const domain = e.slice(at + 1);
  if (local.length > 64 || !LOCAL.test(local)) return null;
  const labels = domain.split('.');
  if (labels.length < 2 || domain.length > 253 || !labels.every((l) => LABEL.test(l))) return null;
  if (!/^[a-z]{2,63}$/.test(labels[labels.length - 1]!)) return null;
  return { local, domain };
}

/** True when the domain, or any parent of it, is on mailchecker's list of throwaway-mail domains. */
export function isDisposableDomain(domain: string): boolean {
  const list = mailchecker.blacklist();
  for (let d = domain; d.includes('.'); d = d.slice(d.indexOf('.') + 1)) if (list.has(d)) return true;
  return false;
}

const FOLD: Readonly<Record<string, string>> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
};

/** Lower case, diacritics removed (`é` → `e`, `ß` → `ss`); German umlauts also as `ae`/`oe`/`ue` when `umlautsAsE`. */
function fold(s: string, umlautsAsE = false): string {
  let t = s.toLowerCase();
  if (umlautsAsE) t = t.replace(/ä/g, 'ae').replace(/ö/g, 'oe').replace(/ü/g, 'ue');
  return t
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[ßæœøłđðþı]/g, (c) => FOLD[c] ?? c);
}

/**
 * 0..1: how much of the customer's name shows in the email's local part. Each name token (letters
 * only, at least 2 long, umlauts tried both as `u` and `ue`) scores 1 when it appears in the local
 * part (tokens of 3+ letters anywhere in its letters; 2-letter tokens only as a whole
 * dot/underscore/digit-separated token), 0.5 when only its initial does (a 1-letter token, as in
 * `j.smith`, or glued to another name token, as in `jsmith` or `smithj`), else 0. The score is the
 * mean over name tokens, to two decimals; a `+tag` is ignored. Examples for "John Smith":
 * `john.smith` 1, `jsmith84` 0.75, `smith` 0.5, `xk7q9z` 0.
 */
export function nameEmailSimilarity(name: string, localPart: string): number {
  const tokens = [
    ...new Set(
      fold(name)
        .split(/[^a-z]+/)
        .filter((t) => t.length >= 2),
    ),
  ];
  const variants = new Map(tokens.map((t) => [t, [t]]));
  for (const raw of name.toLowerCase().split(/[^\p{L}]+/u)) {
    const plain = fold(raw);
    const withE = fold(raw, true);
    if (plain !== withE && variants.has(plain)) variants.get(plain)!.push(withE);
  }
  const local = fold(localPart.split('+')[0] ?? '');
  const letters = local.replace(/[^a-z]/g, '');
  const localTokens = new Set(local.split(/[^a-z]+/).filter(Boolean));
  if (tokens.length === 0 || letters.length === 0) return 0;

  const appears = (t: string) => (t.length >= 3 ? letters.includes(t) : localTokens.has(t));
  let sum = 0;
  for (const token of tokens) {
    if (variants.get(token)!.some(appears)) {
      sum += 1;
      continue;
    }
    const initial = token[0]!;
    const others = tokens.filter((t) => t !== token).flatMap((t) => variants.get(t)!);
    const glued = others.some(
      (o) => o.length >= 3 && (letters.startsWith(initial + o) || letters.endsWith(o + initial)),
    );
    if (localTokens.has(initial) || glued) sum += 0.5;
  }
  return Math.round((sum / tokens.length) * 100) / 100;
}

/**
 * Signals for one customer. The phone is parsed with the billing country as the default region, so
 * national formats (`0151 …` in DE) work; its country comes only from a valid number.
 *
 * Reasons: `EMAIL_INVALID`, `EMAIL_DISPOSABLE`, `PHONE_INVALID`, `PHONE_COUNTRY_MISMATCH`,
 * `NAME_EMAIL_MISMATCH` (only for a valid email).
 */
export function identitySignals(
  customer: Pick<Order['customer'], 'name' | 'email' | 'phone'>,
  billingAddress: Pick<Address, 'country'>,
  options: IdentityOptions = {},
): IdentitySignals {
  const threshold = options.nameEmailMismatchBelow ?? IDENTITY_DEFAULTS.nameEmailMismatchBelow;
  const billingCountry = billingAddress.country.toUpperCase();
  const email = parseEmail(customer.email);
  const emailDisposable = email !== null && isDisposableDomain(email.domain);
  const emailFreeMail = email !== null && FREE_MAIL_DOMAINS.has(email.domain);
  const nameSimilarity = email ? nameEmailSimilarity(customer.name, email.local) : 0;

  const region = isSupportedCountry(billingCountry) ? (billingCountry as CountryCode) : undefined;
  const phone = parsePhoneNumberFromString(customer.phone, region);
  const phoneValid = phone?.isValid() ?? false;
  const phoneCountry = phoneValid ? (phone?.country ?? null) : null;
  const phoneCountryMatchesBilling = phoneCountry === null ? null : phoneCountry === billingCountry;

  const reasons: string[] = [];
  if (!email) reasons.push('EMAIL_INVALID');
  if (emailDisposable) reasons.push('EMAIL_DISPOSABLE');
  if (!phoneValid) reasons.push('PHONE_INVALID');
  if (phoneCountryMatchesBilling === false) reasons.push('PHONE_COUNTRY_MISMATCH');
  if (email && nameSimilarity < threshold) reasons.push('NAME_EMAIL_MISMATCH');
  return {
    emailValid: email !== null,
    emailDisposable,
    emailFreeMail,
    phoneValid,
    phoneCountry,
    phoneCountryMatchesBilling,
    nameEmailSimilarity: nameSimilarity,
    reasons,
  };
}
