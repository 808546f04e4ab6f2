/**
 * Trains the fraud model offline and writes the versioned weights file the scoring service loads:
 *
 *   node --import tsx examples/fraud/model/train.ts [--version v1] [--days 30] [--history 200000]
 *
 * 1. Generates a labelled history with the generator (world A), computes every signal with the
 *    signal services' own pure functions, and turns each order into features (features.ts).
 * 2. Fits an L2-regularised logistic regression on standardised features (logistic.ts).
 * 3. Evaluates on a held-out history generated from a different world and stream (world B: other
 *    customers, devices, cards, fraud sessions), scoring through the scoring service's own code.
 * 4. Writes model/weights.<version>.json.
 *
 * Deterministic: the same options give the same file except `trainedAt`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadModel, scoreFeatures, type WeightsFile } from '../services/scoring/logic.ts';
import { buildDataset, type Dataset } from './dataset.ts';
import { FEATURE_NAMES, REASON_CODES } from './features.ts';
import { auc, confusion, fitLogistic, fitStandardiser } from './logistic.ts';

export interface TrainOptions {
  version?: string;
  /** Simulated days of training rows (after 10 days of warm-up). @default 30 */
  days?: number;
  /** Simulated days of held-out rows. @default 10 */
  heldOutDays?: number;
  /** Orders of the seeded velocity history. @default 200_000 */
  historyOrders?: number;
  /** @default 1 */
  l2?: number;
  log?: (line: string) => void;
}

export interface Evaluation {
  auc: number;
  rows: number;
  fraudRate: number;
  /** At the default decision thresholds: review at 0.4, reject at 0.8. */
  at04: { precision: number; recall: number };
  at08: { precision: number; recall: number };
  /** Share of each pattern's orders scored at or above 0.4 (legit patterns: false-positive rate). */
  flaggedByPattern: Record<string, number>;
}

/** Scores a dataset with a weights file through the scoring service's code. */
export function evaluate(weights: WeightsFile, data: Dataset): Evaluation {
  const model = loadModel(weights);
  const scores = data.features.map((f) => scoreFeatures(model, f).score);
  const flagged = (t: number) => scores.map((s) => s >= t);
  const c4 = confusion(flagged(0.4), data.labels);
  const c8 = confusion(flagged(0.8), data.labels);
  const byPattern: Record<string, { n: number; flagged: number }> = {};
  data.patterns.forEach((p, i) => {
    const e = (byPattern[p] ??= { n: 0, flagged: 0 });
    e.n++;
    if (scores[i]! >= 0.4) e.flagged++;
  });
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    auc: r3(auc(scores, data.labels)),
    rows: data.rows.length,
    fraudRate: r3(data.labels.filter(Boolean).length / Math.max(1, data.labels.length)),
    at04: { precision: r3(c4.precision), recall: r3(c4.recall) },
    at08: { precision: r3(c8.precision), recall: r3(c8.recall) },
    flaggedByPattern: Object.fromEntries(
      Object.entries(byPattern)
        .sort()
        .map(([p, e]) => [p, r3(e.flagged / e.n)]),
    ),
  };
}

/** The held-out set: another world and stream than training's, same shape. */
export function heldOutDataset(opts: { days?: number; historyOrders?: number } = {}): Dataset {
  return buildDataset({
    worldSeed: 2002,
    streamSeed: 9,
    days: opts.days ?? 10,
    historyOrders: opts.historyOrders,
  });
}

export function train(opts: TrainOptions = {}): WeightsFile {
  const log = opts.log ?? (() => undefined);
  let t = performance.now();
  const data = buildDataset({
    worldSeed: 1001,
    streamSeed: 1,
    days: opts.days ?? 30,
    historyOrders: opts.historyOrders,
  });
  log(
    `training set: ${data.rows.length} orders (${data.generated} generated), ${Math.round(performance.now() - t)} ms`,
  );
  t = performance.now();
  const d = FEATURE_NAMES.length;
  const std = fitStandardiser(data.rows, d);
  const xs = data.rows.map((r) => Float64Array.from(r, (v, j) => (v - std.means[j]!) / std.stds[j]!));
  const model = fitLogistic(xs, data.labels, { l2: opts.l2 ?? 1 });
  log(`fitted ${d} features in ${Math.round(performance.now() - t)} ms`);
  const r6 = (x: number) => Math.round(x * 1e6) / 1e6;
  const weights: WeightsFile = {
    version: opts.version ?? 'v1',
    features: [...FEATURE_NAMES],
    means: std.means.map(r6),
    stds: std.stds.map(r6),
    coefficients: model.coefficients.map(r6),
    intercept: r6(model.intercept),
    reasonCodes: { ...REASON_CODES },
    trainedAt: new Date().toISOString(),
    metrics: {},
  };
  const trainEval = evaluate(weights, data);
  t = performance.now();
  const heldOut = evaluate(
    weights,
    heldOutDataset({ historyOrders: opts.historyOrders, days: opts.heldOutDays }),
  );
  log(`held-out evaluation in ${Math.round(performance.now() - t)} ms`);
  weights.metrics = {
    auc: heldOut.auc,
    trainAuc: trainEval.auc,
    heldOut,
    training: {
      rows: trainEval.rows,
      fraudRate: trainEval.fraudRate,
      l2: opts.l2 ?? 1,
      worldSeed: 1001,
      streamSeed: 1,
      historyOrders: opts.historyOrders ?? 200_000,
      days: opts.days ?? 30,
    },
  };
  return weights;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      version: { type: 'string', default: 'v1' },
      days: { type: 'string', default: '30' },
      history: { type: 'string', default: '200000' },
      l2: { type: 'string', default: '1' },
      out: { type: 'string' },
    },
  });
  const weights = train({
    version: values.version,
    days: Number(values.days),
    historyOrders: Number(values.history),
    l2: Number(values.l2),
    log: (line) => console.log(line),
  });
  const out = values.out ?? fileURLToPath(new URL(`./weights.${weights.version}.json`, import.meta.url));
  // Formatted as the repository's formatter would, so `npm run check` stays clean after retraining.
  const prettier = await import('prettier');
  const style = await prettier.resolveConfig(out);
  writeFileSync(out, await prettier.format(JSON.stringify(weights), { ...style, filepath: out }));
  const m = weights.metrics as { auc: number; trainAuc: number; heldOut: Evaluation };
  console.log(
    `held-out AUC ${m.auc} (train ${m.trainAuc}); at 0.4: precision ${m.heldOut.at04.precision}, recall ${m.heldOut.at04.recall}`,
  );
  console.log(`wrote ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
