import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordingExec } from '../platform/exec.ts';
import { planEnvironmentAddressing } from './addressing.ts';
import {
  BRIDGE_NF_CALL_IPTABLES,
  applyEnvironmentNetwork,
  hostIpv4Networks,
  planEnvironmentNetwork,
} from './environment.ts';
import { memoryNetworkFs } from './files.ts';

const plan = planEnvironmentNetwork({ env: 'demo', addressing: planEnvironmentAddressing('198.18.16.0/20') });
const netfilterOn = () => memoryNetworkFs({ [BRIDGE_NF_CALL_IPTABLES]: '1\n' });
const links = (list: object[]) => (argv: readonly string[]) =>
  argv.join(' ') === 'ip -j -d link show' ? { stdout: JSON.stringify(list) } : undefined;

describe('applyEnvironmentNetwork', () => {
  it('GIVEN a fresh host WHEN applying THEN both bridges get their gateway, alias and link up, then the host sysctls', async () => {
    const exec = recordingExec(links([{ ifname: 'eth0' }]));
    await applyEnvironmentNetwork(exec, plan, { fs: netfilterOn() });
    assert.deepEqual(
      exec.calls.map((c) => c.argv),
      [
        ['ip', '-j', '-d', 'link', 'show'],
        ['ip', 'link', 'add', 'rp-demo-app', 'type', 'bridge'],
        ['ip', 'link', 'set', 'rp-demo-app', 'alias', 'rampart:demo'],
        ['ip', 'addr', 'replace', '198.18.16.1/21', 'dev', 'rp-demo-app'],
        ['ip', 'link', 'set', 'rp-demo-app', 'up'],
        ['ip', 'link', 'add', 'rp-demo-db', 'type', 'bridge'],
        ['ip', 'link', 'set', 'rp-demo-db', 'alias', 'rampart:demo'],
        ['ip', 'addr', 'replace', '198.18.24.1/22', 'dev', 'rp-demo-db'],
        ['ip', 'link', 'set', 'rp-demo-db', 'up'],
        ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'],
        ['sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1'],
      ],
    );
  });

  it('GIVEN our bridges exist (one left unaliased by a crash) WHEN applying again THEN nothing is re-created', async () => {
    const exec = recordingExec(
      links([
        { ifname: 'rp-demo-app', ifalias: 'rampart:demo', linkinfo: { info_kind: 'bridge' } },
        { ifname: 'rp-demo-db', linkinfo: { info_kind: 'bridge' } },
      ]),
    );
    await applyEnvironmentNetwork(exec, plan, { fs: netfilterOn() });
    assert.equal(exec.calls.filter((c) => c.argv.includes('add')).length, 0);
  });

  it('GIVEN a link of the bridge’s name that is not ours THEN RAMPART_E_CONFLICT and nothing is touched', async () => {
    const exec = recordingExec(
      links([{ ifname: 'rp-demo-db', ifalias: 'vpn', linkinfo: { info_kind: 'wireguard' } }]),
    );
    await assert.rejects(applyEnvironmentNetwork(exec, plan, { fs: netfilterOn() }), {
      code: 'RAMPART_E_CONFLICT',
      message: "a link named rp-demo-db exists and is not environment demo's bridge",
    });
    assert.equal(exec.calls.length, 1);
  });

  it('GIVEN br_netfilter is not loaded THEN the error says how to load it', async () => {
    const exec = recordingExec();
    await assert.rejects(
      applyEnvironmentNetwork(exec, plan, { fs: memoryNetworkFs() }),
      (e: { code: string; hint: string }) => {
        assert.equal(e.code, 'RAMPART_E_MISSING_TOOL');
        assert.equal(e.hint, 'modprobe br_netfilter && echo br_netfilter > /etc/modules-load.d/rampart.conf');
        return true;
      },
    );
    assert.equal(exec.calls.length, 0);
  });

  it('GIVEN bridge-nf-call-iptables is 0 THEN the error gives the sysctl', async () => {
    await assert.rejects(
      applyEnvironmentNetwork(recordingExec(), plan, {
        fs: memoryNetworkFs({ [BRIDGE_NF_CALL_IPTABLES]: '0\n' }),
      }),
      (e: { hint: string }) => e.hint === 'sysctl -w net.bridge.bridge-nf-call-iptables=1',
    );
  });
});

describe('hostIpv4Networks', () => {
  it('GIVEN host addresses THEN their networks are returned', async () => {
    const exec = recordingExec(() => ({
      stdout: JSON.stringify([
        { addr_info: [{ local: '127.0.0.1', prefixlen: 8 }] },
        { addr_info: [{ local: '198.18.16.1', prefixlen: 21 }] },
        {},
      ]),
    }));
    assert.deepEqual(await hostIpv4Networks(exec), ['127.0.0.0/8', '198.18.16.0/21']);
  });
});
