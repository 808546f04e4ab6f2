import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../platform/clock.ts';
import { MetricsStore } from './metrics.ts';
import { ReplicaSampler, cpuPercent, parseProcStat, parseVmRss, readUsage, type ProcFs } from './proc.ts';
import type { SpanRecord } from './types.ts';

const START = 1_699_999_980_000; // ms, a multiple of 60 s

function fakeClock(at: number): Clock & { at: number } {
  const c = { at, now: () => c.at, sleep: async () => undefined };
  return c;
}

let n = 0;
function span(over: Partial<SpanRecord> & Pick<SpanRecord, 'service' | 'kind'>, atMs: number): SpanRecord {
  n++;
  return {
    traceId: `${n}`.padStart(32, '0'),
    spanId: `${n}`.padStart(16, '0'),
    parentSpanId: null,
    operation: 'op',
    startTimeUnixNano: `${atMs}000000`,
    durationNs: 20_000_000,
    status: 'unset',
    statusMessage: '',
    attributes: {},
    events: 0,
    resource: {},
    environment: 'prod',
    replica: '0',
    ...over,
  };
}

function call(
  from: string,
  to: string,
  atMs: number,
  opts: { error?: boolean; durationNs?: number } = {},
): [SpanRecord, SpanRecord] {
  const client = span({ service: from, kind: 'client', durationNs: opts.durationNs ?? 30_000_000 }, atMs);
  const server = span(
    {
      service: to,
      kind: 'server',
      traceId: client.traceId,
      parentSpanId: client.spanId,
      status: opts.error ? 'error' : 'unset',
    },
    atMs + 1,
  );
  return [client, server];
}

describe('metrics store', () => {
  it('GIVEN calls whose client and server spans arrive in either order WHEN flushed THEN per-edge and per-service RED', () => {
    const clock = fakeClock(START);
    const m = new MetricsStore({ path: ':memory:', clock, pairWindowMs: 15_000 });
    const [c1, s1] = call('gateway', 'identity', START + 1_000);
    const [c2, s2] = call('gateway', 'identity', START + 2_000, { error: true, durationNs: 90_000_000 });
    m.recordSpans([c1, s1]);
    m.recordSpans([s2]); // the callee's batch came first
    m.recordSpans([c2]);
    const db = span(
      {
        service: 'identity',
        kind: 'client',
        attributes: { 'db.system': 'postgresql', 'server.address': 'maindb' },
      },
      START + 3_000,
    );
    m.recordSpans([db]);
    clock.at = START + 5_000;
    m.flush();
    assert.deepEqual(m.red({ since: START, until: START + 60_000 }).edges, {}); // the window is still open
    clock.at = START + 40_000;
    m.flush();
    const red = m.red({ since: START, until: START + 10_000 });
    assert.deepEqual(Object.keys(red.edges).sort(), ['gateway->identity', 'identity->maindb']);
    const edge = red.edges['gateway->identity'];
    assert.equal(edge?.requests, 2);
    assert.equal(edge?.errors, 1);
    assert.equal(edge?.rate, 0.2);
    assert.ok(Math.abs((edge?.p50Ms ?? 0) - 30) / 30 < 0.05, `p50 ${edge?.p50Ms}`);
    assert.ok(Math.abs((edge?.p99Ms ?? 0) - 90) / 90 < 0.05, `p99 ${edge?.p99Ms}`);
    assert.equal(red.services.identity?.requests, 2);
    assert.equal(red.services.identity?.errorRate, 0.5);
    m.close();
  });

  it('GIVEN sampled calls with adjusted counts WHEN flushed THEN RED counts what each stands for, across both resolutions', () => {
    const clock = fakeClock(START);
    const m = new MetricsStore({ path: ':memory:', clock, pairWindowMs: 1_000 });
    const weighted = (pair: [SpanRecord, SpanRecord], weight: number) => pair.map((x) => ({ ...x, weight }));
    m.recordSpans(weighted(call('gateway', 'scoring', START + 1_000), 4)); // sampled at p = 0.25
    m.recordSpans(weighted(call('gateway', 'scoring', START + 2_000, { error: true }), 4));
    m.recordSpans(call('gateway', 'scoring', START + 3_000, { durationNs: 90_000_000 })); // kept, p = 1
    clock.at = START + 120_000;
    m.flush();
    for (const until of [START + 10_000, START + 2 * 86_400_000]) {
      const edge = m.red({ since: START, until }).edges['gateway->scoring'];
      assert.equal(edge?.requests, 9);
      assert.equal(edge?.errors, 4);
      assert.ok(Math.abs((edge?.p50Ms ?? 0) - 30) / 30 < 0.05, `p50 ${edge?.p50Ms}`);
    }
    assert.equal(m.red({ since: START, until: START + 10_000 }).services.scoring?.requests, 9);
    m.close();
  });

  it('GIVEN spans over minutes WHEN series are read THEN 10-second buckets and 1-minute rollups agree; late spans merge', () => {
    const clock = fakeClock(START);
    const m = new MetricsStore({ path: ':memory:', clock, pairWindowMs: 1_000 });
    for (let i = 0; i < 12; i++)
      m.recordSpans([span({ service: 'api', kind: 'server' }, START + i * 10_000)]);
    clock.at = START + 200_000;
    m.flush();
    // A span of the first bucket, arriving late.
    m.recordSpans([span({ service: 'api', kind: 'server', status: 'error' }, START + 5_000)]);
    m.flush();
    const fine = m.series({ kind: 'service', key: 'api', since: START, until: START + 120_000 });
    assert.equal(fine.length, 12);
    assert.deepEqual([fine[0]?.time, fine[0]?.requests, fine[0]?.errors, fine[0]?.rate], [START, 2, 1, 0.2]);
    const coarse = m.series({
      kind: 'service',
      key: 'api',
      since: START,
      until: START + 120_000,
      resolution: '1m',
    });
    assert.deepEqual(
      coarse.map((p) => [p.time - START, p.requests, p.errors]),
      [
        [0, 7, 1],
        [60_000, 6, 0],
      ],
    );
    m.close();
  });

  it('GIVEN retention WHEN flushed later THEN fine buckets expire before the rollups', () => {
    const clock = fakeClock(START);
    const m = new MetricsStore({
      path: ':memory:',
      clock,
      pairWindowMs: 0,
      retention: { fineMs: 60_000, coarseMs: 600_000 },
    });
    m.recordSpans([span({ service: 'api', kind: 'server' }, START)]);
    m.flush(START + 30_000);
    m.flush(START + 120_000);
    assert.equal(m.series({ kind: 'service', key: 'api', since: START, until: START + 60_000 }).length, 0);
    assert.equal(
      m.series({ kind: 'service', key: 'api', since: START, until: START + 60_000, resolution: '1m' }).length,
      1,
    );
    m.close();
  });

  it('GIVEN replica samples and OTLP points WHEN read back THEN averages, maxima and points', () => {
    const m = new MetricsStore({ path: ':memory:', clock: fakeClock(START) });
    m.recordReplicaUsage([
      { replica: 'prod/default/api/0', time: START + 1_000, cpuPercent: 10, memoryBytes: 100 },
      { replica: 'prod/default/api/0', time: START + 2_000, cpuPercent: 30, memoryBytes: 300 },
    ]);
    assert.deepEqual(
      m.replicaSeries({ replica: 'prod/default/api/0', since: START, until: START + 60_000 }),
      [{ time: START, cpuPercent: 20, cpuMaxPercent: 30, memoryBytes: 200, memoryMaxBytes: 300 }],
    );
    m.recordPoints([
      {
        service: 'api',
        name: 'queue.depth',
        unit: '1',
        type: 'gauge',
        time: START,
        value: 4,
        count: null,
        attributes: { q: 'a' },
      },
    ]);
    assert.deepEqual(
      m.points({ service: 'api', name: 'queue.depth', since: START, until: START })[0]?.attributes,
      { q: 'a' },
    );
    m.close();
  });
});

const STAT =
  '4242 (node server.js) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 11 0 123456 1000000 5000 18446744073709551615';
const STATUS = 'Name:\tnode\nVmPeak:\t  900000 kB\nVmRSS:\t   51200 kB\nThreads:\t11\n';

function fixtureFs(files: Record<string, string>): ProcFs {
  return {
    readFile: async (path) => {
      const v = files[path];
      if (v === undefined) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
      return v;
    },
  };
}

describe('replica CPU and memory', () => {
  it('GIVEN /proc files WHEN parsed THEN CPU ticks and resident memory (a command name with spaces and parens)', () => {
    assert.deepEqual(parseProcStat(STAT.replace('(node server.js)', '(a) b (c)')), {
      utime: 250,
      stime: 50,
      starttime: 123456,
    });
    assert.equal(parseVmRss(STATUS), 51200 * 1024);
    assert.equal(cpuPercent({ cpuUsec: 0, at: 0 }, { cpuUsec: 500_000, at: 1000 }), 50);
  });

  it('GIVEN a process with a child WHEN read THEN both are summed; a cgroup of its own wins', async () => {
    const fs = fixtureFs({
      '/proc/4242/stat': STAT,
      '/proc/4242/status': STATUS,
      '/proc/4242/task/4242/children': '4300',
      '/proc/4300/stat': STAT.replace('4242 (node', '4300 (node'),
      '/proc/4300/status': STATUS,
      '/sys/fs/cgroup/rampart/api-0/cpu.stat': 'usage_usec 7000000\nuser_usec 6000000\n',
      '/sys/fs/cgroup/rampart/api-0/memory.current': '123456789\n',
    });
    assert.deepEqual(await readUsage({ pid: 4242 }, fs), {
      cpuUsec: 6_000_000,
      memoryBytes: 2 * 51200 * 1024,
    });
    assert.deepEqual(await readUsage({ pid: 4242, cgroup: '/rampart/api-0' }, fs), {
      cpuUsec: 7_000_000,
      memoryBytes: 123456789,
    });
    assert.equal(await readUsage({ pid: 1 }, fs), undefined);
  });

  it('GIVEN two sampling rounds WHEN sampled THEN CPU percent from the difference; a new pid starts over', async () => {
    const files: Record<string, string> = { '/proc/10/stat': STAT, '/proc/10/status': STATUS };
    const clock = fakeClock(START);
    const recorded: unknown[] = [];
    let pid = 10;
    const sampler = new ReplicaSampler({
      metrics: { recordReplicaUsage: (s) => void recorded.push(...s) },
      targets: () => [{ replica: 'prod/default/api/0', pid }],
      fs: fixtureFs(files),
      clock,
    });
    assert.deepEqual(await sampler.sampleOnce(), []);
    clock.at += 10_000;
    files['/proc/10/stat'] = STAT.replace(' 250 50 ', ' 650 150 '); // +500 ticks = 5 s of CPU
    const [sample] = await sampler.sampleOnce();
    assert.deepEqual(sample, {
      replica: 'prod/default/api/0',
      time: START + 10_000,
      cpuPercent: 50,
      memoryBytes: 51200 * 1024,
    });
    pid = 11;
    files['/proc/11/stat'] = STAT;
    files['/proc/11/status'] = STATUS;
    clock.at += 10_000;
    assert.deepEqual(await sampler.sampleOnce(), []);
    assert.equal(recorded.length, 1);
  });
});
