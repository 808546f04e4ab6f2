import { fileURLToPath } from 'node:url';
import type { CompileFirewallInput } from '../compile.ts';
import { modelWorld, policy } from './model.ts';

/**
 * Inputs of the golden files beside this module: compile.test.ts renders them (RAMPART_UPDATE_GOLDEN=1
 * rewrites the files; review the diff), the privileged test loads them with `nft -c`.
 */
const world = modelWorld();

/** Every case the compiler distinguishes, on the x/y model (pods at 198.18.16.10-15). */
export const MODEL_FIXTURE: CompileFirewallInput = {
  env: 'demo',
  world,
  modes: { global: 'protect', perService: { 'x/c': 'monitor', 'y/c': 'learn' } },
  policies: [
    // x/a: only from pods b of x (exact pairs, every port) and from y's a on the named port `alt`.
    policy('x', 'a-ingress', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [{ podSelector: { matchLabels: { pod: 'b' } } }] },
        {
          from: [
            { namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'a' } } },
          ],
          ports: [{ protocol: 'TCP', port: 'alt' }],
        },
      ],
    }),
    // x/b: from an ipBlock minus an except (interval elements), UDP 53 and TCP 81-82.
    policy('x', 'b-ingress', {
      podSelector: { matchLabels: { pod: 'b' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ ipBlock: { cidr: '198.18.16.0/24', except: ['198.18.16.12/32'] } }],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 81, endPort: 82 },
          ],
        },
      ],
    }),
    // Every pod of y may only send to x (any port) and to the outside on TCP 443.
    policy('y', 'y-egress', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        { to: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }] },
        { to: [{ ipBlock: { cidr: '198.19.0.0/16' } }], ports: [{ protocol: 'TCP', port: 443 }] },
      ],
    }),
  ],
};

/** No pods, no policies: the skeleton alone. */
export const EMPTY_FIXTURE: CompileFirewallInput = {
  env: 'demo',
  world: { namespaces: [], pods: [] },
  policies: [],
  modes: { global: 'learn', perService: {} },
};

export const GOLDEN_CASES: Readonly<Record<string, CompileFirewallInput>> = {
  model: MODEL_FIXTURE,
  empty: EMPTY_FIXTURE,
};

export function goldenPath(name: string): string {
  return fileURLToPath(new URL(`./${name}.nft`, import.meta.url));
}
