import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressBook, resolveFlow } from './flows.ts';
import { capturedFlows, flow, SHOP_HOST_IPS, shopWorld } from './fixtures/shop.ts';
import { aggregateFlows, formatEdge, Learner, MemoryFlowLog, type Edge } from './learn.ts';

describe('flows and learning', () => {
  it('GIVEN the captured flows WHEN resolved THEN ends are pods, the host or external, with port names', () => {
    const book = addressBook(shopWorld(), { hostIps: SHOP_HOST_IPS });
    const [first] = capturedFlows().map((f) => resolveFlow(book, f));
    assert.deepEqual(first!.src, {
      kind: 'pod',
      ip: '198.18.0.5',
      namespace: 'shop',
      service: 'client',
      pod: 'client-0',
    });
    assert.deepEqual(first!.dst, {
      kind: 'pod',
      ip: '198.18.0.2',
      namespace: 'shop',
      service: 'web',
      pod: 'web-0',
    });
    assert.equal(first!.portName, 'http');
    assert.deepEqual(book.lookup('198.18.8.1'), { kind: 'host', ip: '198.18.8.1' });
    assert.deepEqual(book.lookup('127.0.0.1'), { kind: 'host', ip: '127.0.0.1' });
    assert.deepEqual(book.lookup('203.0.113.9'), { kind: 'external', ip: '203.0.113.9' });
  });

  it('GIVEN the captured flows WHEN aggregated THEN one edge per service pair and port, replicas and counts kept, the hairpin to itself dropped', () => {
    const book = addressBook(shopWorld(), { hostIps: SHOP_HOST_IPS });
    const edges = aggregateFlows(capturedFlows().map((f) => resolveFlow(book, f)));
    assert.deepEqual(edges.map(formatEdge).sort(), [
      'host 127.0.0.1 -> shop/web TCP/80 (http)',
      'host 198.18.0.1 -> shop/web TCP/80 (http)',
      'shop/api -> shop/pg TCP/5432 (postgres)',
      'shop/client -> shop/api UDP/9999',
      'shop/client -> shop/web TCP/80 (http)',
      'shop/web -> shop/web TCP/80 (http)',
    ]);
    const clientWeb = edges.find((e) => formatEdge(e) === 'shop/client -> shop/web TCP/80 (http)')!;
    assert.equal(clientWeb.count, 3);
    assert.deepEqual(clientWeb.dstReplicas, ['web-0', 'web-1']);
    assert.deepEqual(clientWeb.srcReplicas, ['client-0']);
    assert.equal(clientWeb.firstSeen, 1795651190754);
    assert.equal(clientWeb.lastSeen, 1795651191421);
    // web-0 -> VIP -> web-0 is a pod talking to itself; web-0 -> VIP -> web-1 is learned.
    assert.equal(edges.find((e) => formatEdge(e) === 'shop/web -> shop/web TCP/80 (http)')!.count, 1);
  });

  it('GIVEN a learner WHEN flows arrive in two flushes THEN the log merges aggregates and reports only new edges', async () => {
    const log = new MemoryFlowLog();
    const batches: { added: Edge[]; deltas: Edge[] }[] = [];
    const learner = new Learner({
      world: shopWorld(),
      hostIps: SHOP_HOST_IPS,
      log,
      onBatch: (b) => batches.push(b),
    });
    learner.add([flow('198.18.0.5', '198.18.0.2', 80, 1000), flow('198.18.0.2', '198.18.0.2', 80, 1000)]);
    await learner.flush();
    learner.add([flow('198.18.0.5', '198.18.0.3', 80, 5000), flow('198.18.0.5', '203.0.113.9', 443, 6000)]);
    await learner.stop();
    assert.deepEqual(
      batches.map((b) => b.added.map(formatEdge)),
      [['shop/client -> shop/web TCP/80 (http)'], ['shop/client -> 203.0.113.9 TCP/443']],
    );
    const [toExternal, toWeb] = await log.edges();
    assert.equal(formatEdge(toExternal!), 'shop/client -> 203.0.113.9 TCP/443');
    assert.deepEqual(
      [toWeb!.count, toWeb!.firstSeen, toWeb!.lastSeen, toWeb!.dstReplicas],
      [2, 1000, 5000, ['web-0', 'web-1']],
    );
    assert.deepEqual(learner.stats(), { flows: 4, selfFlows: 1, flushes: 2, edgesAdded: 2 });
  });

  it('GIVEN a full log WHEN a new edge arrives THEN it is refused and counted, existing edges still merge', async () => {
    const log = new MemoryFlowLog({ maxEdges: 1 });
    const book = addressBook(shopWorld());
    const [a, b] = aggregateFlows([
      resolveFlow(book, flow('198.18.0.5', '198.18.0.2', 80, 1)),
      resolveFlow(book, flow('198.18.0.5', '198.18.0.4', 8080, 1)),
    ]);
    await log.record([a!, b!, a!]);
    assert.equal(log.dropped, 1);
    assert.equal((await log.edges())[0]!.count, 2);
  });
});
