/**
 * Deterministic, labelled merchant orders: a world of customers (see customers.ts) shopping at
 * the demo merchants, with fraud sessions (see patterns.ts) mixed in. Each generated order
 * carries its label and pattern beside it; `order` alone is what a merchant would send.
 *
 *   const world = createWorld({ seed: 1, sources });
 *   for (const o of orderStream(world, { seed: 7, start: Date.now() })) send(o.order);
 */
import type { Order } from '../lib/types.ts';
import type { GeneratorSources, World } from './customers.ts';
import {
  FRAUD_WEIGHTS,
  fraudSession,
  legitSession,
  type FraudPattern,
  type Pattern,
  type SessionContext,
  type TimedDraft,
} from './patterns.ts';
import { exponential, rngFor, weighted } from './random.ts';

export type { Customer, GeneratorSources, World } from './customers.ts';
export { customerAt } from './customers.ts';
export type { FraudPattern, LegitPattern, Pattern } from './patterns.ts';
export { MERCHANTS, MERCHANT_BY_ID, type Merchant } from './data.ts';

export interface LabelledOrder {
  order: Order;
  label: 'fraud' | 'legit';
  pattern: Pattern;
}

export interface WorldOptions {
  seed: number;
  /**
   * Orders in the velocity service's seeded history (its `seed.orders`): returning customers are
   * the people who shopped in it, so their email, devices and cards are known to the stack.
   * @default 1_000_000
   */
  historyOrders?: number;
  /** Returning customers, 0..customers-1: all of them in the history. @default historyOrders / 4 */
  customers?: number;
  sources: GeneratorSources;
}

/** The seed history averages ~2.8 orders per customer: a quarter of its size are surely all in it. */
export function createWorld(opts: WorldOptions): World {
  const historyOrders = opts.historyOrders ?? 1_000_000;
  return {
    seed: opts.seed,
    historyOrders,
    customers: Math.max(1, opts.customers ?? Math.floor(historyOrders / 4)),
    sources: opts.sources,
  };
}

export interface StreamOptions {
  /** Seed of this stream's draws (which customer shops when, which fraud happens). */
  seed: number;
  /** Simulated time of the first session, ms since the epoch. */
  start: number;
  /** Shopping sessions per simulated hour across all merchants. @default 600 */
  sessionsPerHour?: number;
  /** Share of sessions that are fraud (a card-testing session yields many orders). @default 0.015 */
  fraudShare?: number;
  /** Relative weights of the fraud patterns. @default FRAUD_WEIGHTS */
  fraudWeights?: Readonly<Partial<Record<FraudPattern, number>>>;
  /** Prefix of every generated orderId, to keep runs apart. @default `o<seed>-` */
  orderIdPrefix?: string;
}

/**
 * Which customer shops next. Of the returning customers' sessions, 20% come from the 2% heavy
 * shoppers, 30% from the next 18%, half from the occasional 80%: with 50k customers and 300
 * sessions an hour, about one order a day for a heavy shopper and one in two weeks for the others.
 */
export function customerIndex(rand: () => number, customers: number): number {
  const u = rand();
  // One session in ten is a first-time buyer: an index past the known customers, almost never repeated.
  if (u >= 0.9) return customers + Math.floor(rand() * 1e9);
  const v = rand();
  const [from, to] = u < 0.18 ? [0, 0.02] : u < 0.45 ? [0.02, 0.2] : [0.2, 1];
  return Math.min(customers - 1, Math.floor(customers * (from + (to - from) * v)));
}

/** A binary min-heap on `at`, with insertion order breaking ties so streams are reproducible. */
class DraftQueue {
  private items: { d: TimedDraft; seq: number }[] = [];
  private seq = 0;
  get size(): number {
    return this.items.length;
  }
  peek(): TimedDraft | undefined {
    return this.items[0]?.d;
  }
  push(d: TimedDraft): void {
    const a = this.items;
    a.push({ d, seq: this.seq++ });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): TimedDraft | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top?.d;
  }
  private less(x: { d: TimedDraft; seq: number }, y: { d: TimedDraft; seq: number }): boolean {
    return x.d.at < y.d.at || (x.d.at === y.d.at && x.seq < y.seq);
  }
}

/**
 * An endless stream of labelled orders in time order. Sessions arrive as a Poisson process; the
 * orders of a multi-order session (card testing, velocity spikes) interleave with everyone else's.
 */
export function* orderStream(world: World, opts: StreamOptions): Generator<LabelledOrder> {
  const rand = rngFor(world.seed, 'stream', opts.seed);
  const meanGapMs = 3_600_000 / (opts.sessionsPerHour ?? 600);
  const fraudShare = opts.fraudShare ?? 0.015;
  const weights = { ...FRAUD_WEIGHTS, ...opts.fraudWeights } as Record<FraudPattern, number>;
  const prefix = opts.orderIdPrefix ?? `o${opts.seed}-`;
  const ctx: SessionContext = {
    world,
    rand,
    customerIndex: () => customerIndex(rand, world.customers),
  };
  const queue = new DraftQueue();
  let next = opts.start;
  let n = 0;
  for (;;) {
    while (queue.size > 0 && queue.peek()!.at <= next) {
      const d = queue.pop()!;
      yield {
        order: {
          ...d.order,
          orderId: `${prefix}${(n++).toString(36)}`,
          createdAt: new Date(d.at).toISOString(),
        },
        label: d.label,
        pattern: d.pattern,
      };
    }
    const drafts =
      rand() < fraudShare ? fraudSession(ctx, next, weighted(rand, weights)) : legitSession(ctx, next);
    for (const d of drafts) queue.push(d);
    next += exponential(rand, meanGapMs);
  }
}

/** The first `count` orders of a stream. */
export function takeOrders(stream: Iterator<LabelledOrder>, count: number): LabelledOrder[] {
  const out: LabelledOrder[] = [];
  while (out.length < count) {
    const r = stream.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}
