/** payment: POST /check { payment, billingAddress } -> PaymentSignals. */
import { httpError, serve } from '../../lib/http.ts';
import type { Address, Payment } from '../../lib/types.ts';
import { paymentSignals } from './logic.ts';

const METHODS = new Set(['card', 'iban', 'invoice', 'paylater']);

function parse(body: unknown): { payment: Payment; billingAddress: Address } {
  const b = (body ?? {}) as { payment?: Record<string, unknown>; billingAddress?: Partial<Address> };
  const p = b.payment;
  if (!p || typeof p !== 'object' || !METHODS.has(p.method as string))
    throw httpError(400, { error: 'invalid request', field: 'payment.method' });
  if (p.method === 'card' && (typeof p.bin !== 'string' || typeof p.last4 !== 'string')) {
    throw httpError(400, {
      error: 'invalid request',
      field: typeof p.bin !== 'string' ? 'payment.bin' : 'payment.last4',
    });
  }
  if (p.method === 'iban' && typeof p.iban !== 'string')
    throw httpError(400, { error: 'invalid request', field: 'payment.iban' });
  if (!b.billingAddress || typeof b.billingAddress.country !== 'string') {
    throw httpError(400, { error: 'invalid request', field: 'billingAddress.country' });
  }
  return { payment: p as unknown as Payment, billingAddress: b.billingAddress as Address };
}

serve({
  name: 'payment',
  routes: [
    {
      method: 'POST',
      path: '/check',
      handler: ({ body }) => {
        const { payment, billingAddress } = parse(body);
        return paymentSignals(payment, billingAddress);
      },
    },
  ],
});
