/**
 * The generator's sources of IPs and card BINs: the geo and payment services' own tables, so an
 * IP the generator puts "in PL" is one the geo service places in PL, and a "DE" BIN is one the
 * payment service calls German.
 */
import { sampleIpForCountry } from '../services/geo/logic.ts';
import { binsForCountry } from '../services/payment/logic.ts';
import type { GeneratorSources } from './customers.ts';

const bins = new Map<string, readonly { bin: string; prepaid: boolean }[]>();

/** The sources used by training, the traffic tool and the tests. */
export function defaultSources(): GeneratorSources {
  return {
    ipForCountry: sampleIpForCountry,
    binsForCountry(country) {
      let list = bins.get(country);
      if (!list) bins.set(country, (list = binsForCountry(country)));
      return list;
    },
  };
}
