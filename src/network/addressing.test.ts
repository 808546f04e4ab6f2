import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_ADDRESS_POOL,
  allocateAddress,
  allocateEnvironmentBlock,
  cidrContains,
  cidrsOverlap,
  parseCidr,
  planEnvironmentAddressing,
  vipNetwork,
} from './addressing.ts';

const rejectsWith = (fn: () => unknown, code: string, message: string | RegExp) =>
  assert.throws(fn, (e: unknown) => {
    const err = e as { code: string; message: string };
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });

describe('allocateEnvironmentBlock', () => {
  it('GIVEN the default pool and no environments WHEN allocating THEN the first /20 is taken', () => {
    assert.equal(allocateEnvironmentBlock(DEFAULT_ADDRESS_POOL, []), '198.18.0.0/20');
    assert.equal(allocateEnvironmentBlock(), '198.18.0.0/20');
  });

  it('GIVEN used blocks WHEN allocating THEN the lowest block overlapping none of them is taken', () => {
    assert.equal(
      allocateEnvironmentBlock(DEFAULT_ADDRESS_POOL, ['198.18.0.0/20', '198.18.32.0/20']),
      '198.18.16.0/20',
    );
    // A host route that covers part of a block makes the whole block unusable.
    assert.equal(
      allocateEnvironmentBlock(DEFAULT_ADDRESS_POOL, ['198.18.0.0/19', '198.18.40.7/32']),
      '198.18.48.0/20',
    );
  });

  it('GIVEN a full pool WHEN allocating THEN RAMPART_E_ADDRESS_SPACE', () => {
    const all = Array.from({ length: 32 }, (_, i) => `198.${18 + (i >> 4)}.${(i % 16) * 16}.0/20`);
    rejectsWith(
      () => allocateEnvironmentBlock(DEFAULT_ADDRESS_POOL, all),
      'RAMPART_E_ADDRESS_SPACE',
      'no free /20 left in 198.18.0.0/15: 32 block(s) in use',
    );
  });

  it('GIVEN a stack cidr of exactly /20 WHEN allocating THEN the block is the cidr itself', () => {
    assert.equal(allocateEnvironmentBlock('10.9.16.0/20', []), '10.9.16.0/20');
  });

  it('GIVEN a pool smaller than /20 THEN RAMPART_E_ADDRESS_SPACE says what is needed', () => {
    rejectsWith(
      () => allocateEnvironmentBlock('198.18.0.0/24', []),
      'RAMPART_E_ADDRESS_SPACE',
      'network.cidr 198.18.0.0/24 is too small: an environment needs a /20 (4096 addresses)',
    );
  });
});

describe('parseCidr', () => {
  it('GIVEN host bits set THEN the error proposes the network address', () => {
    rejectsWith(
      () => parseCidr('198.18.3.0/20'),
      'RAMPART_E_ADDRESS_SPACE',
      "'198.18.3.0/20' has host bits set; did you mean 198.18.0.0/20?",
    );
  });

  it('GIVEN garbage THEN RAMPART_E_ADDRESS_SPACE', () => {
    rejectsWith(
      () => parseCidr('198.18.0.0'),
      'RAMPART_E_ADDRESS_SPACE',
      "'198.18.0.0' is not an IPv4 CIDR like 198.18.0.0/15",
    );
    rejectsWith(
      () => parseCidr('300.1.1.0/24'),
      'RAMPART_E_ADDRESS_SPACE',
      "'300.1.1.0' is not an IPv4 address",
    );
    rejectsWith(() => parseCidr('1.2.3.0/33'), 'RAMPART_E_ADDRESS_SPACE', /not an IPv4 CIDR/);
  });
});

describe('planEnvironmentAddressing', () => {
  it('GIVEN a block WHEN planning THEN app /21, db /22 and two /23 VIP ranges tile it', () => {
    assert.deepEqual(planEnvironmentAddressing('198.18.16.0/20'), {
      block: '198.18.16.0/20',
      app: { subnet: '198.18.16.0/21', gateway: '198.18.16.1', prefix: 21 },
      db: { subnet: '198.18.24.0/22', gateway: '198.18.24.1', prefix: 22 },
      appVips: '198.18.28.0/23',
      dbVips: '198.18.30.0/23',
    });
  });

  it('GIVEN every block of the default pool THEN no range of one environment overlaps another range anywhere', () => {
    const ranges: { env: number; cidr: string }[] = [];
    for (let i = 0, used: string[] = []; i < 32; i++) {
      const block = allocateEnvironmentBlock(DEFAULT_ADDRESS_POOL, used);
      used = [...used, block];
      const a = planEnvironmentAddressing(block);
      for (const cidr of [a.app.subnet, a.db.subnet, a.appVips, a.dbVips]) {
        assert.ok(cidrsOverlap(cidr, block), `${cidr} inside ${block}`);
        ranges.push({ env: i, cidr });
      }
    }
    for (const [i, x] of ranges.entries()) {
      for (const y of ranges.slice(i + 1))
        assert.equal(cidrsOverlap(x.cidr, y.cidr), false, `${x.cidr} vs ${y.cidr}`);
    }
  });

  it('GIVEN a block that is not a /20 THEN RAMPART_E_ADDRESS_SPACE', () => {
    rejectsWith(
      () => planEnvironmentAddressing('198.18.0.0/16'),
      'RAMPART_E_ADDRESS_SPACE',
      'an environment block must be a /20, got 198.18.0.0/16',
    );
  });
});

describe('allocateAddress', () => {
  it('GIVEN a range WHEN allocating THEN the lowest address after network and gateway is taken, used ones skipped', () => {
    assert.equal(allocateAddress('198.18.16.0/21', new Set()), '198.18.16.2');
    assert.equal(allocateAddress('198.18.16.0/21', new Set(['198.18.16.2', '198.18.16.4'])), '198.18.16.3');
  });

  it('GIVEN a range whose last host is taken WHEN allocating THEN the broadcast address is never returned', () => {
    rejectsWith(
      () => allocateAddress('198.18.16.0/30', new Set(['198.18.16.2'])),
      'RAMPART_E_ADDRESS_SPACE',
      'no free address left in 198.18.16.0/30 (1 in use)',
    );
  });

  it('GIVEN addresses crossing an octet THEN counting carries over', () => {
    const used = new Set(Array.from({ length: 254 }, (_, i) => `198.18.28.${i + 2}`));
    assert.equal(allocateAddress('198.18.28.0/23', used), '198.18.29.0');
    assert.ok(cidrContains('198.18.28.0/23', '198.18.29.255'));
  });
});

describe('vipNetwork', () => {
  it('GIVEN a service on app (with or without db) THEN its VIP is on app; db-only THEN db', () => {
    assert.equal(vipNetwork(['app']), 'app');
    assert.equal(vipNetwork(['db', 'app']), 'app');
    assert.equal(vipNetwork(['db']), 'db');
  });
});
