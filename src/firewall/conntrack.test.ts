import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  classifyStderrLine,
  conntrackArgv,
  conntrackSource,
  eventToFlow,
  LineSplitter,
  parseConntrackLine,
  withDefaultReceiveBuffer,
} from './conntrack.ts';
import { recordingExec, type SpawnStreaming, type StreamingChild } from '../platform/exec.ts';
import { readFixture, SHOP_BLOCK, SHOP_VIPS } from './fixtures/shop.ts';
import type { Flow } from './types.ts';

const VIP_EVENTS = readFixture('conntrack-vip.events.txt').split('\n').filter(Boolean);

describe('parseConntrackLine (real conntrack 1.4.7 output)', () => {
  it('GIVEN a connection to a VIP WHEN parsed THEN the destination is the replica that answered (reply source)', () => {
    const e = parseConntrackLine(VIP_EVENTS[0]!)!;
    assert.equal(e.type, 'NEW');
    assert.equal(e.l4, 'tcp');
    assert.deepEqual(e.orig, { src: '198.18.0.5', dst: SHOP_VIPS.web, sport: 40748, dport: 80 });
    assert.deepEqual(e.reply, { src: '198.18.0.2', dst: '198.18.0.5', sport: 80, dport: 40748 });
    assert.equal(e.id, 3631506360);
    assert.equal(e.time, 1795651190754.283);
    assert.deepEqual(eventToFlow(e), {
      srcIp: '198.18.0.5',
      dstIp: '198.18.0.2',
      protocol: 'TCP',
      dstPort: 80,
      time: 1795651190754,
    });
  });

  it('GIVEN every captured event THEN each parses, and the VIP, hairpin, UDP and published-port cases map to real ends', () => {
    const flows = VIP_EVENTS.map((l) => eventToFlow(parseConntrackLine(l)!)!);
    assert.equal(flows.length, 9);
    const pairs = flows.map((f: Flow) => `${f.srcIp}->${f.dstIp} ${f.protocol}/${f.dstPort}`);
    assert.deepEqual(pairs, [
      '198.18.0.5->198.18.0.2 TCP/80', // client -> web VIP -> web-0
      '198.18.0.5->198.18.0.3 TCP/80', // client -> web VIP -> web-1
      '198.18.0.5->198.18.0.2 TCP/80', // client -> web-0 directly
      '198.18.0.2->198.18.0.2 TCP/80', // web-0 -> web VIP -> itself (hairpin, masqueraded)
      '198.18.0.2->198.18.0.3 TCP/80', // web-0 -> web VIP -> web-1
      '198.18.8.2->198.18.8.3 TCP/5432', // api (db side) -> pg VIP -> pg-0
      '198.18.0.5->198.18.0.4 UDP/9999', // client -> api, UDP, nobody listening: still a flow
      '127.0.0.1->198.18.0.2 TCP/80', // the host -> published port 18080 -> web-0
      '198.18.0.1->198.18.0.3 TCP/80', // the host (app gateway) -> web-1 directly
    ]);
  });

  it('GIVEN stderr text, an ICMP line and an IPv6 line THEN only events parse and only ported IPv4 become flows', () => {
    assert.equal(
      parseConntrackLine('NOTICE: Netlink socket buffer size has been set to 67108864 bytes.'),
      undefined,
    );
    assert.equal(parseConntrackLine(''), undefined);
    const icmp = parseConntrackLine(
      '[1795651190.1]\t    [NEW] ipv4     2 icmp     1 30 src=198.18.0.5 dst=198.18.0.2 type=8 code=0 id=7 [UNREPLIED] src=198.18.0.2 dst=198.18.0.5 type=0 code=0 id=7 id=99',
    )!;
    assert.equal(icmp.id, 99);
    assert.equal(eventToFlow(icmp), undefined);
    const v6 = parseConntrackLine(
      '[1795651190.1]\t    [NEW] ipv6     10 tcp      6 120 SYN_SENT src=::1 dst=::1 sport=1 dport=2 [UNREPLIED] src=::1 dst=::1 sport=2 dport=1 id=5',
    )!;
    assert.equal(v6.family, 'ipv6');
    assert.equal(eventToFlow(v6), undefined);
  });

  it('GIVEN the stderr of a run that overflowed THEN every ENOBUFS warning is recognised', () => {
    const kinds = readFixture('conntrack-enobufs.stderr.txt')
      .split('\n')
      .filter(Boolean)
      .map(classifyStderrLine);
    assert.equal(kinds.filter((k) => k === 'enobufs').length, 4);
    assert.equal(kinds[0], 'subscribed');
    assert.equal(kinds.at(-1), 'summary');
    assert.equal(classifyStderrLine(readFixture('conntrack-vip.stderr.txt').split('\n')[0]!), 'subscribed');
  });

  it('GIVEN chunks split inside lines THEN LineSplitter yields whole lines', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('ab'), []);
    assert.deepEqual(s.push('c\nde\n\nf'), ['abc', 'de']);
    assert.deepEqual(s.end(), ['f']);
  });
});

/** A conntrack that prints what the test tells it to. */
class FakeConntrack extends EventEmitter implements StreamingChild {
  stdout = new PassThrough();
  stderr = new PassThrough();
  signals: string[] = [];
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    this.exit(
      0,
      signal === 'SIGTERM' ? 'conntrack v1.4.7 (conntrack-tools): 9 flow events have been shown.\n' : '',
    );
    return true;
  }
  exit(code: number, lastStderr = ''): void {
    this.stderr.end(lastStderr);
    this.stdout.end();
    setImmediate(() => this.emit('exit', code, null));
  }
}

function fakeSpawn(): SpawnStreaming & { children: FakeConntrack[]; argv: (readonly string[])[] } {
  const children: FakeConntrack[] = [];
  const argv: (readonly string[])[] = [];
  const spawn = ((a: readonly string[]) => {
    argv.push(a);
    const c = new FakeConntrack();
    children.push(c);
    setImmediate(() =>
      c.stderr.write('NOTICE: Netlink socket buffer size has been set to 67108864 bytes.\n'),
    );
    return c;
  }) as unknown as SpawnStreaming & { children: FakeConntrack[]; argv: (readonly string[])[] };
  spawn.children = children;
  spawn.argv = argv;
  return spawn;
}

describe('conntrackSource', () => {
  it('GIVEN conntrack prints the captured events in odd chunks and two ENOBUFS WHEN stopped THEN every flow of the env arrives and losses are counted', async () => {
    const spawn = fakeSpawn();
    const flows: Flow[] = [];
    const source = conntrackSource({
      block: SHOP_BLOCK,
      spawn,
      exec: null,
      onFlows: (f) => flows.push(...f),
    });
    await source.start();
    assert.deepEqual(spawn.argv[0], conntrackArgv());
    assert.deepEqual(conntrackArgv({ bufferBytes: 1024 }), [
      'conntrack',
      '-E',
      '-e',
      'NEW',
      '-o',
      'extended,id,timestamp',
      '-b',
      '1024',
    ]);
    const c = spawn.children[0]!;
    const text = `${readFixture('conntrack-vip.events.txt')}${readFixture('conntrack-enobufs.events.txt')}`;
    for (let i = 0; i < text.length; i += 97) c.stdout.write(text.slice(i, i + 97));
    c.stderr.write(readFixture('conntrack-enobufs.stderr.txt').split('\n').slice(1, 7).join('\n') + '\n');
    await source.stop();
    assert.deepEqual(c.signals, ['SIGTERM']);
    // The 5 loopback events of the overflow capture are not the env's: ignored, not lost.
    assert.equal(flows.length, 9);
    assert.deepEqual(source.stats(), {
      events: 14,
      parsed: 9,
      ignored: 5,
      unparsed: 0,
      losses: 2,
      restarts: 0,
    });
  });

  it('GIVEN the host default receive buffer is small WHEN started THEN it is raised while conntrack subscribes, then restored', async () => {
    const order: string[] = [];
    const exec = recordingExec((argv) => (argv[1] === '-n' ? { stdout: '212992\n' } : undefined));
    const spawn = fakeSpawn();
    const tracked: SpawnStreaming = (argv) => {
      order.push(`spawn ${exec.calls.length} sysctl calls before`);
      return spawn(argv);
    };
    const source = conntrackSource({ block: SHOP_BLOCK, spawn: tracked, exec, onFlows: () => {} });
    await source.start();
    assert.deepEqual(
      exec.calls.map((c) => c.argv.join(' ')),
      [
        'sysctl -n net.core.rmem_default',
        'sysctl -q -w net.core.rmem_default=33554432',
        'sysctl -q -w net.core.rmem_default=212992',
      ],
    );
    assert.deepEqual(order, ['spawn 2 sysctl calls before']);
    await source.stop();
    // A default already as large is left alone.
    const big = recordingExec(() => ({ stdout: '67108864' }));
    await withDefaultReceiveBuffer(big, 1024, async () => {});
    assert.equal(big.calls.length, 1);
  });

  it('GIVEN conntrack dies WHEN running THEN it is restarted and the gap counts as a loss', async () => {
    const spawn = fakeSpawn();
    const warnings: string[] = [];
    const source = conntrackSource({
      block: SHOP_BLOCK,
      spawn,
      onFlows: () => {},
      onWarning: (w) => warnings.push(w),
      restartDelayMs: 1,
      exec: null,
    });
    await source.start();
    spawn.children[0]!.exit(1);
    for (let i = 0; i < 50 && spawn.children.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(spawn.children.length, 2);
    assert.equal(source.stats().losses, 1);
    assert.equal(source.stats().restarts, 1);
    assert.match(warnings.join('\n'), /conntrack exited with 1; restarting/);
    await source.stop();
  });

  it('GIVEN no conntrack binary WHEN started THEN RAMPART_E_MISSING_TOOL names the package', async () => {
    const spawn: SpawnStreaming = () => {
      const c = new FakeConntrack();
      setImmediate(() =>
        c.emit('error', Object.assign(new Error('spawn conntrack ENOENT'), { code: 'ENOENT' })),
      );
      return c;
    };
    const source = conntrackSource({ block: SHOP_BLOCK, spawn, exec: null, onFlows: () => {} });
    await assert.rejects(source.start(), (e: Error & { code?: string; details?: { fix?: string } }) => {
      assert.equal(e.code, 'RAMPART_E_MISSING_TOOL');
      assert.match(e.details?.fix ?? '', /apt-get install conntrack/);
      return true;
    });
  });
});
