/**
 * Labelled feature rows from the generator: a simulated stretch of shopping, every order run
 * through the in-process signal functions in time order (so velocity sees exactly the history
 * the service would), the first days kept only as history ("warm-up"), the rest as rows.
 */
import { historicalOrders } from '../db/seed.ts';
import { createWorld, orderStream, type LabelledOrder, type Pattern } from '../generator/orders.ts';
import { defaultSources } from '../generator/sources.ts';
import type { Features } from '../lib/types.ts';
import { offlineCredit } from './credit.ts';
import { extractFeatures, FEATURE_NAMES } from './features.ts';
import { createSignalComputer } from './signals.ts';

export interface DatasetOptions {
  worldSeed: number;
  streamSeed: number;
  /** Orders of the velocity seed history loaded first, as the service does. @default 200_000 */
  historyOrders?: number;
  /**
   * Bureau files (the credit service's `seed.persons`). @default 80% of the returning customers,
   * the stack's ratio (200k files for the 250k customers of a 1M-order history).
   */
  bureauPersons?: number;
  /** Simulated days kept as rows, after the warm-up. */
  days: number;
  /** Simulated days after the seed history that only add to it (no rows). @default 2 */
  warmupDays?: number;
  /** @default 300 */
  sessionsPerHour?: number;
  /** Simulated start. @default 2026-01-01T00:00:00Z */
  start?: number;
}

export interface Dataset {
  names: readonly string[];
  features: Features[];
  rows: Float64Array[];
  labels: (0 | 1)[];
  patterns: Pattern[];
  /** Orders generated in total, warm-up included. */
  generated: number;
}

const DAY_MS = 86_400_000;

export function buildDataset(opts: DatasetOptions): Dataset {
  const start = opts.start ?? Date.parse('2026-01-01T00:00:00Z');
  const warmupEnd = start + (opts.warmupDays ?? 2) * DAY_MS;
  const end = warmupEnd + opts.days * DAY_MS;
  const historyOrders = opts.historyOrders ?? 200_000;
  const world = createWorld({ seed: opts.worldSeed, historyOrders, sources: defaultSources() });
  const stream = orderStream(world, {
    seed: opts.streamSeed,
    start,
    sessionsPerHour: opts.sessionsPerHour ?? 300,
    orderIdPrefix: `w${opts.worldSeed}s${opts.streamSeed}-`,
  });
  const signals = createSignalComputer({
    credit: offlineCredit(opts.bureauPersons ?? Math.round(world.customers * 0.8)),
  });
  // The velocity service seeds the 30 days before it starts with the same generator (seed 1).
  signals.seedHistory(historicalOrders(historyOrders, 1, start));
  const out: Dataset = {
    names: FEATURE_NAMES,
    features: [],
    rows: [],
    labels: [],
    patterns: [],
    generated: 0,
  };
  for (const item of stream as Iterable<LabelledOrder>) {
    const at = Date.parse(item.order.createdAt!);
    if (at >= end) break;
    out.generated++;
    const s = signals.next(item.order);
    if (at < warmupEnd) continue;
    const f = extractFeatures(item.order, s);
    out.features.push(f);
    out.rows.push(Float64Array.from(FEATURE_NAMES, (n) => f[n] ?? 0));
    out.labels.push(item.label === 'fraud' ? 1 : 0);
    out.patterns.push(item.pattern);
  }
  return out;
}
