import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AnomalyDetector,
  DeniedTracker,
  MemoryAlertLog,
  dbNetworkServices,
  formatAlert,
  policyAlerts,
  type AlertEvent,
} from './alerts.ts';
import { createEvaluator } from './evaluate.ts';
import { addressBook, resolveFlow } from './flows.ts';
import { capturedFlows, flow, SHOP_BLOCK, SHOP_HOST_IPS, shopWorld } from './fixtures/shop.ts';
import { aggregateFlows, type Edge } from './learn.ts';
import { proposePolicies } from './propose.ts';
import type { FirewallMode } from './types.ts';

const world = shopWorld();
const book = addressBook(world, { hostIps: SHOP_HOST_IPS });
const baseline = aggregateFlows(capturedFlows().map((f) => resolveFlow(book, f)));
const check = createEvaluator(world, proposePolicies(world, baseline), {
  hostIps: [...SHOP_HOST_IPS, '127.0.0.1'],
});
const modes = (m: Record<string, FirewallMode>) => (ns: string, svc: string) => m[`${ns}/${svc}`] ?? 'learn';

describe('policy alerts', () => {
  it('GIVEN web in monitor WHEN client reaches web on a port never learned, three times THEN one alert counts 3', async () => {
    const flows = [1, 2, 3].map((t) =>
      resolveFlow(book, flow('198.18.0.5', '198.18.0.2', 81, 1795651200000 + t)),
    );
    const occurrences = policyAlerts(flows, { check, modeOf: modes({ 'shop/web': 'monitor' }) });
    assert.equal(occurrences.length, 3);
    const log = new MemoryAlertLog();
    await log.record(occurrences);
    const [alert, ...rest] = await log.list();
    assert.deepEqual(rest, []);
    assert.equal(alert!.count, 3);
    assert.deepEqual([alert!.firstSeen, alert!.lastSeen], [1795651200001, 1795651200003]);
    assert.deepEqual(alert!.src, {
      kind: 'pod',
      ip: '198.18.0.5',
      namespace: 'shop',
      service: 'client',
      replica: 'client-0',
    });
    assert.equal(alert!.dst.replica, 'web-0');
    assert.deepEqual(
      [alert!.mode, alert!.decision, alert!.policies],
      ['monitor', 'allowed-in-monitor', ['shop/client', 'shop/web']],
    );
    assert.match(
      alert!.decidedBy,
      /^no policy allows it \(egress of shop\/client-0 is isolated by shop\/client; ingress of shop\/web-0 is isolated by shop\/web\)$/,
    );
    assert.match(
      formatAlert(alert!),
      /OUT-OF-POLICY shop\/client-0 -> shop\/web-0 TCP\/81 \[monitor, allowed-in-monitor\] no policy allows it .* x3 \(first /,
    );
  });

  it('GIVEN both ends in learn mode or a learned flow THEN no alert', () => {
    const odd = resolveFlow(book, flow('198.18.0.5', '198.18.0.2', 81, 1));
    assert.deepEqual(policyAlerts([odd], { check, modeOf: modes({}) }), []);
    const usual = resolveFlow(book, flow('198.18.0.5', '198.18.0.2', 80, 1));
    assert.deepEqual(policyAlerts([usual], { check, modeOf: modes({ 'shop/web': 'protect' }) }), []);
  });

  it('GIVEN two reads of the denied set WHEN counters grow THEN blocked alerts count the new packets only', async () => {
    const tracker = new DeniedTracker({ book: () => book, check });
    const entry = {
      srcIp: '198.18.0.2',
      dstIp: '198.18.8.3',
      protocol: 'TCP',
      dstPort: 5432,
      packets: 2,
      bytes: 120,
    };
    const log = new MemoryAlertLog();
    await log.record(tracker.observe([entry], 1000));
    await log.record(tracker.observe([{ ...entry, packets: 5 }], 2000));
    await log.record(tracker.observe([{ ...entry, packets: 5 }], 3000));
    const [alert] = await log.list();
    assert.deepEqual(
      [alert!.count, alert!.firstSeen, alert!.lastSeen, alert!.decision, alert!.mode],
      [5, 1000, 2000, 'blocked', 'protect'],
    );
    assert.equal(alert!.portName, 'postgres');
    assert.match(
      formatAlert(alert!),
      /BLOCKED shop\/web-0 -> shop\/pg-0 TCP\/5432 \(postgres\) \[protect, blocked\] no policy allows it/,
    );
  });
});

describe('anomalies', () => {
  const detector = (extra: Partial<ConstructorParameters<typeof AnomalyDetector>[0]> = {}) =>
    new AnomalyDetector({
      baseline,
      learningEnded: () => true,
      block: SHOP_BLOCK,
      isDbService: (ns, svc) => dbNetworkServices(world, '198.18.8.0/22').has(`${ns}/${svc}`),
      ...extra,
    });

  it('GIVEN learning ended WHEN web calls api for the first time THEN a new-destination alert; a known pair raises none', () => {
    const d = detector();
    const out = d.observe(
      [
        resolveFlow(book, flow('198.18.0.2', '198.18.0.4', 8080, 5)),
        resolveFlow(book, flow('198.18.0.5', '198.18.0.3', 80, 6)),
      ],
      modes({}),
    );
    assert.deepEqual(
      out.map((o) => [o.kind, o.src.replica, o.dst.replica]),
      [['new-destination', 'web-0', 'api-0']],
    );
  });

  it('GIVEN api is on the db network WHEN it reaches an address outside the env THEN a db-egress alert, even from its app address', () => {
    assert.deepEqual([...dbNetworkServices(world, '198.18.8.0/22')].sort(), ['shop/api', 'shop/pg']);
    const out = detector({ learningEnded: () => false }).observe(
      [resolveFlow(book, flow('198.18.0.4', '203.0.113.9', 443, 5))],
      modes({}),
    );
    assert.deepEqual(
      out.map((o) => o.kind),
      ['db-egress'],
    );
    assert.match(out[0]!.decidedBy, /reached 203\.0\.113\.9, outside the environment/);
  });

  it('GIVEN a baseline of 10 connections per 10 s WHEN 40 arrive in one bucket THEN one rate-spike alert for that bucket', () => {
    const steady: Edge = {
      ...baseline.find(
        (e) =>
          e.dst.kind === 'service' &&
          e.dst.service === 'web' &&
          e.src.kind === 'service' &&
          e.src.service === 'client',
      )!,
      count: 100,
      firstSeen: 0,
      lastSeen: 100_000,
    };
    const d = detector({ baseline: [steady] });
    const burst = Array.from({ length: 40 }, (_, i) =>
      resolveFlow(book, flow('198.18.0.5', '198.18.0.2', 80, 200_000 + i)),
    );
    const out = d.observe(burst, modes({ 'shop/client': 'monitor' }));
    assert.deepEqual(
      out.map((o) => [o.kind, o.mode]),
      [['rate-spike', 'monitor']],
    );
    assert.equal(out[0]!.detail, '31 connections in 10s, baseline 10');
    // A quiet bucket afterwards lowers the baseline; a normal one raises nothing.
    assert.deepEqual(
      d.observe(
        burst.slice(0, 5).map((r) => ({ ...r, flow: { ...r.flow, time: r.flow.time + 20_000 } })),
        modes({}),
      ),
      [],
    );
  });
});

describe('MemoryAlertLog', () => {
  it('GIVEN a subscriber WHEN a group appears and then floods THEN it hears the new group at once and at most one update per interval', async () => {
    let now = 0;
    const log = new MemoryAlertLog({ updateIntervalMs: 1000, now: () => now });
    const events: AlertEvent[] = [];
    const unsubscribe = log.subscribe((e) => events.push(e));
    const occurrence = policyAlerts([resolveFlow(book, flow('198.18.0.5', '198.18.0.2', 81, 1))], {
      check,
      modeOf: modes({ 'shop/web': 'monitor' }),
    })[0]!;
    await log.record([occurrence]);
    for (let i = 0; i < 100; i++) await log.record([{ ...occurrence, time: 2 + i }]);
    now = 1500;
    await log.record([{ ...occurrence, time: 1500 }]);
    assert.deepEqual(
      events.map((e) => [e.type, e.alert.count]),
      [
        ['new', 1],
        ['update', 102],
      ],
    );
    unsubscribe();
  });

  it('GIVEN more groups than it keeps THEN the least recently seen are forgotten', async () => {
    const log = new MemoryAlertLog({ maxGroups: 2 });
    const base = policyAlerts([resolveFlow(book, flow('198.18.0.5', '198.18.0.2', 81, 1))], {
      check,
      modeOf: modes({ 'shop/web': 'monitor' }),
    })[0]!;
    await log.record([81, 82, 83].map((port, i) => ({ ...base, port, time: i })));
    assert.deepEqual(
      (await log.list()).map((a) => a.port),
      [83, 82],
    );
    assert.deepEqual(
      (await log.list({ since: 2 })).map((a) => a.port),
      [83],
    );
  });
});
