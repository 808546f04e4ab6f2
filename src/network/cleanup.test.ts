import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordingExec } from '../platform/exec.ts';
import { listLeftovers, removeEnvironment, removeLeftovers } from './cleanup.ts';
import { memoryNetworkFs } from './files.ts';

/**
 * A host shared by environment `t1`, environment `t1-x` (whose namespace names start with
 * `rampart-t1-` too) and objects that are not Rampart's at all.
 */
function sharedHost(failing: readonly string[] = []) {
  const netns: Record<string, string | undefined> = {
    'rampart-t1-shop-web-0': 'rampart:t1',
    'rampart-t1-x-web-0': 'rampart:t1-x', // name looks like t1's; the lo alias proves it is t1-x's
    'rampart-t1-shop-api-0': undefined, // crashed before its lo alias: name is all we have
    'rampart-zz-a-b-0': 'rampart:zz',
    'docker-ns': undefined,
  };
  const links = [
    { ifname: 'eth0' },
    { ifname: 'rp-t1-app', ifalias: 'rampart:t1', linkinfo: { info_kind: 'bridge' } },
    { ifname: 'rp-t1-db', ifalias: 'rampart:t1', linkinfo: { info_kind: 'bridge' } },
    { ifname: 'rv0123456789ab', ifalias: 'rampart:t1', master: 'rp-t1-app', linkinfo: { info_kind: 'veth' } },
    { ifname: 'rp-t1-x-app', ifalias: 'rampart:t1-x', linkinfo: { info_kind: 'bridge' } },
    { ifname: 'rp-zz-app', ifalias: 'rampart:zz', linkinfo: { info_kind: 'bridge' } },
    { ifname: 'rp-mine', linkinfo: { info_kind: 'bridge' } }, // right prefix, no alias: not ours
    { ifname: 'eth1', ifalias: 'rampart:t1' }, // our alias, foreign name: not ours
  ];
  const tables = [
    { table: { family: 'ip', name: 'rampart_t1' } },
    { table: { family: 'ip', name: 'rampart_t1_x' } },
    { table: { family: 'ip', name: 'rampart_zz' } },
    { table: { family: 'inet', name: 'rampart_t1' } }, // the environment's firewall table
    { table: { family: 'inet', name: 'filter' } },
  ];
  const exec = recordingExec((argv) => {
    const cmd = argv.join(' ');
    if (failing.includes(cmd)) return { code: 1, stderr: 'Device or resource busy' };
    if (cmd === 'ip -j netns list')
      return { stdout: JSON.stringify(Object.keys(netns).map((name) => ({ name }))) };
    if (cmd === 'ip -j -d link show') return { stdout: JSON.stringify(links) };
    if (cmd === 'nft -j list tables')
      return { stdout: JSON.stringify({ nftables: [{ metainfo: {} }, ...tables] }) };
    const lo = /^ip -n (\S+) -j link show lo$/.exec(cmd);
    if (lo) return { stdout: JSON.stringify([{ ifname: 'lo', ifalias: netns[lo[1]!] }]) };
    return undefined;
  });
  const fs = memoryNetworkFs({
    '/etc/netns/rampart-t1-shop-web-0/hosts': '',
    '/etc/netns/rampart-t1-gone-0/hosts': '', // namespace already gone
    '/etc/netns/rampart-qq-gone-0/hosts': '',
    '/etc/netns/other/hosts': '',
  });
  return { exec, fs, options: { fs, etcNetnsDir: '/etc/netns' } };
}

const mutations = (exec: ReturnType<typeof sharedHost>['exec']) =>
  exec.calls.map((c) => c.argv.join(' ')).filter((c) => / del | delete /.test(c));

describe('listLeftovers', () => {
  it('GIVEN a shared host THEN only objects with our prefix (and, for links, our alias) are listed', async () => {
    const { exec, options } = sharedHost();
    const found = await listLeftovers(exec, options);
    assert.deepEqual(found.netns, [
      { name: 'rampart-t1-shop-web-0', env: 't1' },
      { name: 'rampart-t1-x-web-0', env: 't1-x' },
      { name: 'rampart-t1-shop-api-0', env: undefined },
      { name: 'rampart-zz-a-b-0', env: 'zz' },
    ]);
    assert.deepEqual(
      found.links.map((l) => `${l.name}:${l.env}`),
      ['rp-t1-app:t1', 'rp-t1-db:t1', 'rv0123456789ab:t1', 'rp-t1-x-app:t1-x', 'rp-zz-app:zz'],
    );
    assert.deepEqual(found.tables, ['rampart_t1', 'rampart_t1_x', 'rampart_zz']);
    assert.deepEqual(found.orphanEtcDirs, ['rampart-qq-gone-0', 'rampart-t1-gone-0']);
  });
});

describe('removeEnvironment', () => {
  it('GIVEN environment t1 next to t1-x WHEN removing t1 THEN exactly t1’s objects go, veths before bridges', async () => {
    const { exec, fs, options } = sharedHost();
    const removed = await removeEnvironment(exec, 't1', options);
    assert.deepEqual(mutations(exec), [
      'ip link del rv0123456789ab',
      'ip link del rp-t1-app',
      'ip link del rp-t1-db',
      'ip netns del rampart-t1-shop-web-0',
      'ip netns del rampart-t1-shop-api-0',
      'nft delete table ip rampart_t1',
      'nft delete table inet rampart_t1',
    ]);
    assert.ok(removed.includes('/etc/netns/rampart-t1-gone-0'));
    assert.deepEqual([...fs.files.keys()], ['/etc/netns/rampart-qq-gone-0/hosts', '/etc/netns/other/hosts']);
  });

  it('GIVEN a deletion fails THEN the rest is still removed and RAMPART_E_EXEC_FAILED lists the failure', async () => {
    const { exec, options } = sharedHost(['ip netns del rampart-t1-shop-web-0']);
    await assert.rejects(removeEnvironment(exec, 't1', options), (e: { code: string; message: string }) => {
      assert.equal(e.code, 'RAMPART_E_EXEC_FAILED');
      assert.equal(
        e.message,
        'could not remove all of environment t1: netns rampart-t1-shop-web-0: ip netns del rampart-t1-shop-web-0 exited with 1',
      );
      return true;
    });
    assert.ok(mutations(exec).includes('nft delete table ip rampart_t1'));
  });
});

describe('removeLeftovers', () => {
  it('GIVEN t1-x is kept THEN everything else of Rampart goes, including the unproven namespace whose name cannot be t1-x’s', async () => {
    const { exec, options } = sharedHost();
    const report = await removeLeftovers(exec, { ...options, keepEnvironments: ['t1-x'] });
    assert.deepEqual(mutations(exec), [
      'ip link del rv0123456789ab',
      'ip link del rp-t1-app',
      'ip link del rp-t1-db',
      'ip link del rp-zz-app',
      'ip netns del rampart-t1-shop-web-0',
      'ip netns del rampart-t1-shop-api-0',
      'ip netns del rampart-zz-a-b-0',
      'nft delete table ip rampart_t1',
      'nft delete table ip rampart_zz',
      'nft delete table inet rampart_t1',
    ]);
    assert.deepEqual(report.failed, []);
  });

  it('GIVEN t1 is kept THEN its unproven namespace and orphan folders that could be t1’s are kept', async () => {
    const { exec, fs, options } = sharedHost();
    await removeLeftovers(exec, { ...options, keepEnvironments: new Set(['t1']) });
    assert.deepEqual(mutations(exec), [
      'ip link del rp-t1-x-app',
      'ip link del rp-zz-app',
      'ip netns del rampart-t1-x-web-0',
      'ip netns del rampart-zz-a-b-0',
      'nft delete table ip rampart_t1_x',
      'nft delete table ip rampart_zz',
    ]);
    assert.deepEqual(
      [...fs.files.keys()],
      [
        '/etc/netns/rampart-t1-shop-web-0/hosts',
        '/etc/netns/rampart-t1-gone-0/hosts',
        '/etc/netns/other/hosts',
      ],
    );
  });
});
