/**
 * Scoring: the logistic model shipped in `model/weights.<version>.json`, applied to one order's
 * features. Pure: the caller reads the weights file and hands its JSON to `loadModel`.
 *
 * A feature the request leaves out (its signal service timed out) takes the training mean, so
 * it contributes nothing: the score is then what the remaining evidence says.
 */
import type { Features, ReasonCode, ScoreResult } from '../../lib/types.ts';

export interface WeightsFile {
  version: string;
  features: string[];
  means: number[];
  stds: number[];
  coefficients: number[];
  intercept: number;
  /** Stable reason code per feature name. */
  reasonCodes: Record<string, string>;
  trainedAt: string;
  metrics: Record<string, unknown>;
}

export interface Model {
  version: string;
  names: readonly string[];
  means: Float64Array;
  /** coefficient / std: a contribution is `scaled[j] * (x - mean[j])`. */
  scaled: Float64Array;
  intercept: number;
  codes: readonly string[];
}

/** Checks the weights file's shape and precomputes what each request needs. */
export function loadModel(file: unknown): Model {
  const w = file as Partial<WeightsFile>;
  const n = w.features?.length ?? 0;
  if (
    typeof w.version !== 'string' ||
    n === 0 ||
    w.means?.length !== n ||
    w.stds?.length !== n ||
    w.coefficients?.length !== n ||
    typeof w.intercept !== 'number'
  ) {
    throw new Error(
      'weights file: expected version, features[], means[], stds[], coefficients[] of one length and intercept',
    );
  }
  const features = w.features!;
  return {
    version: w.version,
    names: features,
    means: Float64Array.from(w.means!),
    scaled: Float64Array.from(w.coefficients!.map((c, j) => c / (w.stds![j]! || 1))),
    intercept: w.intercept,
    codes: features.map((f) => w.reasonCodes?.[f] ?? f.toUpperCase()),
  };
}

export interface ScoreOptions {
  /** @default 3 */
  maxReasons?: number;
  /** Smallest log-odds contribution worth naming as a reason. @default 0.25 */
  minContribution?: number;
}

/**
 * sigmoid(intercept + sum of contributions), and the reason codes of the largest positive
 * contributions, most important first.
 */
export function scoreFeatures(model: Model, features: Features, opts: ScoreOptions = {}): ScoreResult {
  const maxReasons = opts.maxReasons ?? 3;
  const minContribution = opts.minContribution ?? 0.25;
  let z = model.intercept;
  const top: { code: ReasonCode; c: number }[] = [];
  for (let j = 0; j < model.names.length; j++) {
    const x = features[model.names[j]!];
    if (typeof x !== 'number' || !Number.isFinite(x)) continue; // missing: the mean, i.e. 0
    const c = model.scaled[j]! * (x - model.means[j]!);
    z += c;
    // Only a risky reading is a reason: a positive coefficient and a value above the mean.
    if (c >= minContribution && model.scaled[j]! > 0) top.push({ code: model.codes[j]!, c });
  }
  top.sort((a, b) => b.c - a.c);
  const score = z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
  return {
    score: Math.round(score * 10_000) / 10_000,
    modelVersion: model.version,
    reasons: top.slice(0, maxReasons).map((t) => t.code),
  };
}
