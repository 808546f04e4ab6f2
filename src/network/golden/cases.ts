import { fileURLToPath } from 'node:url';
import { planEnvironmentAddressing } from '../addressing.ts';
import type { RulesetInput } from '../nft.ts';

/** Inputs of the golden files beside this module; nft.test.ts renders them, the privileged test loads them with `nft -c`. */
const addressing = planEnvironmentAddressing('198.18.16.0/20');

/** A shop with every case the renderer distinguishes. Shared with the privileged syntax check. */
export const FULL_FIXTURE: RulesetInput = {
  env: 'demo',
  addressing,
  services: [
    {
      namespace: 'shop',
      name: 'web',
      vip: '198.18.28.2',
      ports: [{ port: 80, protocol: 'TCP' }],
      endpoints: ['198.18.16.2', '198.18.16.3'],
      publish: [{ hostPort: 8080, port: 80, protocol: 'TCP' }],
    },
    {
      namespace: 'shop',
      name: 'order-api',
      vip: '198.18.28.3',
      ports: [
        { port: 8080, protocol: 'TCP' },
        { port: 9090, protocol: 'TCP' },
      ],
      endpoints: ['198.18.16.4'],
      publish: [{ hostPort: 9443, port: 9090, protocol: 'TCP' }],
    },
    // Same name, other namespace: its chain must not collide with shop/web's.
    {
      namespace: 'ops',
      name: 'web',
      vip: '198.18.28.4',
      ports: [{ port: 80, protocol: 'TCP' }],
      endpoints: ['198.18.16.9'],
      publish: [],
    },
    {
      namespace: 'shop',
      name: 'pg',
      vip: '198.18.30.2',
      ports: [{ port: 5432, protocol: 'TCP' }],
      endpoints: ['198.18.24.2'],
      publish: [],
    },
    // No healthy endpoint: no map entry, no chain, no published port; the VIP is rejected.
    {
      namespace: 'shop',
      name: 'ledger',
      vip: '198.18.30.3',
      ports: [{ port: 7000, protocol: 'UDP' }],
      endpoints: [],
      publish: [{ hostPort: 7000, port: 7000, protocol: 'UDP' }],
    },
  ],
};

export const GOLDEN_CASES: Record<string, RulesetInput> = {
  'full.nft': FULL_FIXTURE,
  'empty.nft': { env: 'demo', addressing, services: [] },
};

export const goldenPath = (name: string): string => fileURLToPath(new URL(`./${name}`, import.meta.url));
