/**
 * geo: POST /check { ipAddress, billingAddress, shippingAddress } -> GeoSignals. The GeoLite2
 * country database (shipped inside geoip-country) is read once, at start.
 */
import { createRequire } from 'node:module';
import { resolveNumbers } from '../../db/config.ts';
import { httpError, serve } from '../../lib/http.ts';
import type { Address } from '../../lib/types.ts';
import { GEO_DEFAULTS, geoSignals, type IpLookup } from './logic.ts';

const require = createRequire(import.meta.url);
const options = resolveNumbers(GEO_DEFAULTS, require('rc')('geo', {}));
const geoip = require('geoip-country') as { lookup(ip: string): { country?: string } | null };
const lookup: IpLookup = (ip) => geoip.lookup(ip)?.country ?? null;

function address(value: unknown, field: string): Address {
  const a = value as Partial<Address> | undefined;
  if (
    !a ||
    typeof a !== 'object' ||
    typeof a.country !== 'string' ||
    typeof a.line1 !== 'string' ||
    typeof a.postalCode !== 'string'
  ) {
    throw httpError(400, { error: 'invalid request', field });
  }
  return a as Address;
}

serve({
  name: 'geo',
  routes: [
    {
      method: 'POST',
      path: '/check',
      handler: ({ body }) => {
        const b = (body ?? {}) as Record<string, unknown>;
        if (typeof b.ipAddress !== 'string')
          throw httpError(400, { error: 'invalid request', field: 'ipAddress' });
        return geoSignals(
          b.ipAddress,
          address(b.billingAddress, 'billingAddress'),
          address(b.shippingAddress, 'shippingAddress'),
          lookup,
          options,
        );
      },
    },
  ],
});
