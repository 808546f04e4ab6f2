/** identity: POST /check { customer, billingAddress } -> IdentitySignals. */
import { createRequire } from 'node:module';
import { resolveNumbers } from '../../db/config.ts';
import { httpError, serve } from '../../lib/http.ts';
import type { Address, Order } from '../../lib/types.ts';
import { IDENTITY_DEFAULTS, identitySignals } from './logic.ts';

const require = createRequire(import.meta.url);
const options = resolveNumbers(IDENTITY_DEFAULTS, require('rc')('identity', {}));

function parse(body: unknown): { customer: Order['customer']; billingAddress: Address } {
  const b = (body ?? {}) as { customer?: Record<string, unknown>; billingAddress?: Partial<Address> };
  for (const field of ['name', 'email', 'phone'] as const) {
    if (typeof b.customer?.[field] !== 'string')
      throw httpError(400, { error: 'invalid request', field: `customer.${field}` });
  }
  if (typeof b.billingAddress?.country !== 'string')
    throw httpError(400, { error: 'invalid request', field: 'billingAddress.country' });
  return {
    customer: b.customer as unknown as Order['customer'],
    billingAddress: b.billingAddress as Address,
  };
}

serve({
  name: 'identity',
  routes: [
    {
      method: 'POST',
      path: '/check',
      handler: ({ body }) => {
        const { customer, billingAddress } = parse(body);
        return identitySignals(customer, billingAddress, options);
      },
    },
  ],
});
