import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordingExec } from '../platform/exec.ts';
import { netnsName, vethHostName } from '../platform/names.ts';
import { planEnvironmentAddressing } from './addressing.ts';
import { memoryNetworkFs } from './files.ts';
import {
  applyReplicaNetwork,
  execInNetns,
  planReplicaNetwork,
  removeReplicaNetwork,
  replicaNetworkCommands,
  type ReplicaNetworkInput,
} from './replica.ts';

const addressing = planEnvironmentAddressing('198.18.16.0/20');
const api: ReplicaNetworkInput = {
  env: 'demo',
  namespace: 'shop',
  service: 'api',
  index: 0,
  addressing,
  attachments: [
    { net: 'app', address: '198.18.16.5' },
    { net: 'db', address: '198.18.24.7' },
  ],
  hosts: [{ address: '198.18.30.2', names: ['pg', 'pg.shop'] }],
};
const NS = netnsName('demo', 'shop', 'api', 0);
const APP_VETH = vethHostName('demo', 'shop', 'api', 0, 'app');
const DB_VETH = vethHostName('demo', 'shop', 'api', 0, 'db');

/** Answers like a host with nothing on it yet. */
const emptyHost = (argv: readonly string[]) => (argv.includes('-j') ? { stdout: '[]' } : undefined);

describe('planReplicaNetwork', () => {
  it('GIVEN a replica on app and db WHEN planning THEN one veth per network with its VIP route and no default route', () => {
    const plan = planReplicaNetwork(api);
    assert.equal(plan.netns, 'rampart-demo-shop-api-0');
    assert.deepEqual(replicaNetworkCommands(plan), [
      ['ip', '-n', NS, 'link', 'set', 'lo', 'alias', 'rampart:demo'],
      ['ip', '-n', NS, 'link', 'set', 'lo', 'up'],
      [
        'ip',
        'link',
        'add',
        APP_VETH,
        'type',
        'veth',
        'peer',
        'name',
        'app0',
        'address',
        '02:52:c6:12:10:05',
        'netns',
        NS,
      ],
      ['ip', 'link', 'set', APP_VETH, 'alias', 'rampart:demo'],
      ['ip', 'link', 'set', APP_VETH, 'master', 'rp-demo-app'],
      ['ip', 'link', 'set', 'dev', APP_VETH, 'type', 'bridge_slave', 'hairpin', 'on'],
      ['ip', 'link', 'set', APP_VETH, 'up'],
      ['ip', '-n', NS, 'addr', 'add', '198.18.16.5/21', 'dev', 'app0'],
      ['ip', '-n', NS, 'link', 'set', 'app0', 'up'],
      ['ip', '-n', NS, 'route', 'add', '198.18.28.0/23', 'via', '198.18.16.1', 'dev', 'app0'],
      [
        'ip',
        'link',
        'add',
        DB_VETH,
        'type',
        'veth',
        'peer',
        'name',
        'db0',
        'address',
        '02:52:c6:12:18:07',
        'netns',
        NS,
      ],
      ['ip', 'link', 'set', DB_VETH, 'alias', 'rampart:demo'],
      ['ip', 'link', 'set', DB_VETH, 'master', 'rp-demo-db'],
      ['ip', 'link', 'set', 'dev', DB_VETH, 'type', 'bridge_slave', 'hairpin', 'on'],
      ['ip', 'link', 'set', DB_VETH, 'up'],
      ['ip', '-n', NS, 'addr', 'add', '198.18.24.7/22', 'dev', 'db0'],
      ['ip', '-n', NS, 'link', 'set', 'db0', 'up'],
      ['ip', '-n', NS, 'route', 'add', '198.18.30.0/23', 'via', '198.18.24.1', 'dev', 'db0'],
      [
        'ip',
        'netns',
        'exec',
        NS,
        'sysctl',
        '-q',
        '-w',
        'net.ipv4.ip_unprivileged_port_start=0',
        'net.ipv6.conf.all.disable_ipv6=1',
        'net.ipv6.conf.default.disable_ipv6=1',
      ],
    ]);
    assert.equal(plan.hostsFile, '127.0.0.1 localhost\n::1 localhost\n198.18.30.2 pg pg.shop\n');
  });

  it('GIVEN an address outside its network or the gateway THEN RAMPART_E_ADDRESS_SPACE', () => {
    for (const address of ['198.18.24.7', '198.18.16.1', '198.18.16.0', '198.18.23.255']) {
      assert.throws(
        () => planReplicaNetwork({ ...api, attachments: [{ net: 'app', address }] }),
        (e: { code: string; message: string }) =>
          e.code === 'RAMPART_E_ADDRESS_SPACE' &&
          e.message === `${address} is not a usable app address in 198.18.16.0/21 (gateway 198.18.16.1)`,
      );
    }
  });
});

describe('applyReplicaNetwork', () => {
  it('GIVEN an empty host WHEN applying THEN the namespace is added, its files written, then the commands run', async () => {
    const exec = recordingExec(emptyHost);
    const fs = memoryNetworkFs();
    const plan = planReplicaNetwork(api);
    await applyReplicaNetwork(exec, plan, { fs, etcNetnsDir: '/etc/netns' });
    const argvs = exec.calls.map((c) => c.argv);
    const add = argvs.findIndex((a) => a.join(' ') === `ip netns add ${NS}`);
    assert.ok(add >= 0);
    assert.deepEqual(argvs.slice(add + 1), replicaNetworkCommands(plan));
    assert.equal(fs.files.get(`/etc/netns/${NS}/hosts`), plan.hostsFile);
    assert.match(fs.files.get(`/etc/netns/${NS}/resolv.conf`) ?? '', /^# Rampart/);
    assert.ok(!/nameserver/.test(fs.files.get(`/etc/netns/${NS}/resolv.conf`) ?? ''));
  });

  it('GIVEN the namespace already matches the plan WHEN applying again THEN only the files are rewritten', async () => {
    const exec = recordingExec((argv) => {
      const cmd = argv.join(' ');
      if (cmd === 'ip -j netns list') return { stdout: JSON.stringify([{ name: NS }]) };
      if (cmd === `ip -n ${NS} -j addr show`) {
        return {
          stdout: JSON.stringify([
            { ifname: 'app0', addr_info: [{ local: '198.18.16.5', prefixlen: 21 }] },
            { ifname: 'db0', addr_info: [{ local: '198.18.24.7', prefixlen: 22 }] },
          ]),
        };
      }
      if (cmd === 'ip -j -d link show') {
        return {
          stdout: JSON.stringify([
            { ifname: APP_VETH, master: 'rp-demo-app', ifalias: 'rampart:demo' },
            { ifname: DB_VETH, master: 'rp-demo-db', ifalias: 'rampart:demo' },
          ]),
        };
      }
      return undefined;
    });
    const fs = memoryNetworkFs();
    await applyReplicaNetwork(exec, planReplicaNetwork(api), { fs });
    assert.deepEqual(
      exec.calls.map((c) => c.argv.join(' ')),
      ['ip -j netns list', 'ip -j -d link show', `ip -n ${NS} -j addr show`],
    );
    assert.ok(fs.files.has(`/etc/netns/${NS}/hosts`));
  });

  it('GIVEN a command fails midway WHEN applying THEN what was made is removed and the error is thrown', async () => {
    let created = false;
    const exec = recordingExec((argv) => {
      const cmd = argv.join(' ');
      if (cmd === `ip netns add ${NS}`) created = true;
      if (cmd === 'ip -j netns list') return { stdout: JSON.stringify(created ? [{ name: NS }] : []) };
      if (cmd === 'ip -j -d link show') {
        return { stdout: JSON.stringify(created ? [{ ifname: APP_VETH, ifalias: 'rampart:demo' }] : []) };
      }
      if (argv.includes('master') && argv.includes(APP_VETH))
        return { code: 2, stderr: 'Device does not exist' };
      return undefined;
    });
    const fs = memoryNetworkFs();
    await assert.rejects(applyReplicaNetwork(exec, planReplicaNetwork(api), { fs }), {
      code: 'RAMPART_E_EXEC_FAILED',
    });
    const tail = exec.calls.slice(-4).map((c) => c.argv.join(' '));
    assert.deepEqual(tail, [
      'ip -j -d link show',
      `ip link del ${APP_VETH}`,
      'ip -j netns list',
      `ip netns del ${NS}`,
    ]);
    assert.equal(fs.files.size, 0);
  });
});

describe('removeReplicaNetwork', () => {
  it('GIVEN a veth of that name whose alias is not ours THEN it is left alone', async () => {
    const exec = recordingExec((argv) =>
      argv.join(' ') === 'ip -j -d link show'
        ? { stdout: JSON.stringify([{ ifname: APP_VETH, ifalias: 'someone' }]) }
        : emptyHost(argv),
    );
    await removeReplicaNetwork(
      exec,
      { env: 'demo', namespace: 'shop', service: 'api', index: 0 },
      { fs: memoryNetworkFs() },
    );
    assert.deepEqual(
      exec.calls.map((c) => c.argv.join(' ')),
      ['ip -j -d link show', 'ip -j netns list'],
    );
  });
});

describe('execInNetns', () => {
  it('GIVEN no user THEN the command runs as root in the namespace', () => {
    assert.deepEqual(execInNetns('rampart-demo-shop-web-0', ['node', 'server.js']), [
      'ip',
      'netns',
      'exec',
      'rampart-demo-shop-web-0',
      'node',
      'server.js',
    ]);
  });

  it('GIVEN a user name or ids THEN setpriv drops to them with no supplementary groups', () => {
    assert.deepEqual(execInNetns('ns', ['node', '-v'], { user: 'rampart' }), [
      'ip',
      'netns',
      'exec',
      'ns',
      'setpriv',
      '--reuid=rampart',
      '--regid=rampart',
      '--clear-groups',
      '--',
      'node',
      '-v',
    ]);
    assert.deepEqual(execInNetns('ns', ['id'], { user: { uid: 998, gid: 997 } }).slice(4, 9), [
      'setpriv',
      '--reuid=998',
      '--regid=997',
      '--clear-groups',
      '--',
    ]);
  });
});
