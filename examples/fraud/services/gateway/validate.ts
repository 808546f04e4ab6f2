/**
 * Field-by-field validation of `POST /v1/assessments`: every problem is reported at once, each
 * with the dotted path of its field, so a merchant's developer fixes a request in one round. The
 * gateway checks shape only; whether an email domain is throwaway or a phone number real is the
 * identity service's judgement, and part of the score.
 */
import { isIP } from 'node:net';
import type { Address, Currency, Order, Payment } from '../../lib/types.ts';

export interface FieldError {
  field: string;
  message: string;
}

export const CURRENCIES: readonly Currency[] = ['EUR', 'USD', 'GBP', 'CHF', 'SEK', 'PLN'];
const METHODS: readonly Payment['method'][] = ['card', 'iban', 'invoice', 'paylater'];
/** Largest order value accepted, in minor units (10 million). */
const MAX_AMOUNT = 1_000_000_000;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Checker {
  readonly errors: FieldError[] = [];
  fail(field: string, message: string): void {
    this.errors.push({ field, message });
  }
  string(
    o: Obj,
    key: string,
    path: string,
    opts: { min?: number; max: number; pattern?: RegExp; hint?: string },
  ): string {
    const v = o[key];
    const field = `${path}${key}`;
    if (typeof v !== 'string') {
      this.fail(field, v === undefined ? 'is required' : 'must be a string');
      return '';
    }
    const t = v.trim();
    // A field with a fixed format says what the format is, whatever part of it is wrong.
    if (t.length === 0) this.fail(field, 'must not be empty');
    else if (t.length < (opts.min ?? 1))
      this.fail(field, opts.hint ?? `must be at least ${opts.min} characters`);
    else if (t.length > opts.max)
      this.fail(field, opts.hint && opts.pattern ? opts.hint : `must be at most ${opts.max} characters`);
    else if (opts.pattern && !opts.pattern.test(t)) this.fail(field, opts.hint ?? 'has an invalid format');
    return t;
  }
  object(o: Obj, key: string, path: string): Obj {
    const v = o[key];
    if (!isObj(v)) {
      this.fail(`${path}${key}`, v === undefined ? 'is required' : 'must be an object');
      return {};
    }
    return v;
  }
}

function address(c: Checker, o: Obj, key: string): Address {
  const a = c.object(o, key, '');
  if (Object.keys(a).length === 0 && !isObj(o[key]))
    return { line1: '', city: '', postalCode: '', country: '' };
  const p = `${key}.`;
  return {
    line1: c.string(a, 'line1', p, { max: 200 }),
    city: c.string(a, 'city', p, { max: 100 }),
    postalCode: c.string(a, 'postalCode', p, {
      max: 16,
      pattern: /^[A-Za-z0-9 -]+$/,
      hint: 'must hold only letters, digits, spaces and dashes',
    }),
    country: c.string(a, 'country', p, {
      max: 2,
      min: 2,
      pattern: /^[A-Z]{2}$/,
      hint: 'must be an ISO 3166-1 alpha-2 code in upper case, e.g. DE',
    }),
  };
}

function payment(c: Checker, o: Obj): Payment {
  const p = c.object(o, 'payment', '');
  if (!isObj(o.payment)) return { method: 'invoice' };
  const method = p.method;
  if (typeof method !== 'string' || !METHODS.includes(method as Payment['method'])) {
    c.fail('payment.method', `must be one of ${METHODS.join(', ')}`);
    return { method: 'invoice' };
  }
  if (method === 'card') {
    return {
      method,
      bin: c.string(p, 'bin', 'payment.', {
        max: 8,
        min: 6,
        pattern: /^\d{6,8}$/,
        hint: 'must be the first 6 to 8 digits of the card number',
      }),
      last4: c.string(p, 'last4', 'payment.', {
        max: 4,
        min: 4,
        pattern: /^\d{4}$/,
        hint: 'must be the last 4 digits of the card number',
      }),
    };
  }
  if (method === 'iban') {
    const iban = c.string(p, 'iban', 'payment.', {
      max: 42,
      min: 15,
      pattern: /^[A-Za-z]{2}[0-9]{2}[A-Za-z0-9 ]+$/,
      hint: 'must look like an IBAN, e.g. DE89 3704 0044 0532 0130 00',
    });
    return { method, iban: iban.replace(/\s+/g, '').toUpperCase() };
  }
  return { method: method as 'invoice' | 'paylater' };
}

function isDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return (
    !Number.isNaN(d.getTime()) && d.getUTCMonth() + 1 === Number(m[2]) && d.getUTCDate() === Number(m[3])
  );
}

/** The order, normalised (trimmed, IBAN compacted), or every field problem found. */
export function validateOrder(
  body: unknown,
  now: Date = new Date(),
): { order: Order } | { errors: FieldError[] } {
  if (!isObj(body)) return { errors: [{ field: '(body)', message: 'must be a JSON object' }] };
  const c = new Checker();
  const merchantId = c.string(body, 'merchantId', '', {
    max: 64,
    pattern: /^[a-z0-9][a-z0-9-]*$/,
    hint: 'must be lower-case letters, digits and dashes',
  });
  const orderId = c.string(body, 'orderId', '', {
    max: 64,
    pattern: /^[A-Za-z0-9._:-]+$/,
    hint: 'must hold only letters, digits and . _ : -',
  });
  const amount = body.amount;
  if (typeof amount !== 'number' || !Number.isInteger(amount))
    c.fail('amount', amount === undefined ? 'is required' : 'must be a whole number of minor units (cents)');
  else if (amount <= 0 || amount > MAX_AMOUNT) c.fail('amount', `must be between 1 and ${MAX_AMOUNT}`);
  const currency = body.currency;
  if (typeof currency !== 'string' || !CURRENCIES.includes(currency as Currency))
    c.fail('currency', `must be one of ${CURRENCIES.join(', ')}`);

  const cust = c.object(body, 'customer', '');
  const customer: Order['customer'] = {
    name: c.string(cust, 'name', 'customer.', { max: 200 }),
    email: c.string(cust, 'email', 'customer.', {
      min: 3,
      max: 254,
      pattern: /^[^\s@]+@[^\s@]+$/,
      hint: 'must be an email address',
    }),
    phone: c.string(cust, 'phone', 'customer.', {
      min: 4,
      max: 32,
      pattern: /^\+?[0-9 ()./-]+$/,
      hint: 'must be a phone number, e.g. +49 151 23456789',
    }),
  };
  if (cust.dateOfBirth !== undefined) {
    const dob = typeof cust.dateOfBirth === 'string' ? cust.dateOfBirth : '';
    if (!isDate(dob)) c.fail('customer.dateOfBirth', 'must be a date, YYYY-MM-DD');
    else if (new Date(`${dob}T00:00:00Z`) > now) c.fail('customer.dateOfBirth', 'must be in the past');
    else customer.dateOfBirth = dob;
  }
  const billingAddress = address(c, body, 'billingAddress');
  const shippingAddress = address(c, body, 'shippingAddress');
  const ipAddress = c.string(body, 'ipAddress', '', { max: 45 });
  if (ipAddress && isIP(ipAddress) === 0) c.fail('ipAddress', 'must be an IPv4 or IPv6 address');
  const deviceId = c.string(body, 'deviceId', '', { max: 128 });
  const pay = payment(c, body);
  let createdAt: string | undefined;
  if (body.createdAt !== undefined) {
    const t = typeof body.createdAt === 'string' ? Date.parse(body.createdAt) : Number.NaN;
    if (Number.isNaN(t)) c.fail('createdAt', 'must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z');
    else createdAt = new Date(t).toISOString();
  }
  if (c.errors.length > 0) return { errors: c.errors };
  return {
    order: {
      merchantId,
      orderId,
      amount: amount as number,
      currency: currency as Currency,
      customer,
      billingAddress,
      shippingAddress,
      ipAddress,
      deviceId,
      payment: pay,
      createdAt: createdAt ?? now.toISOString(),
    },
  };
}
