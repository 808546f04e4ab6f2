/**
 * The velocity service's configuration, the `rc` way (app name `velocity`): defaults here, then
 * `.velocityrc` files, then env such as `velocity_seed__orders=5000` or
 * `velocity_thresholds__card__h1=4`, coerced to numbers by `resolveNumbers`.
 */
import { resolveNumbers } from '../../db/config.ts';
import { DEFAULT_THRESHOLDS, type VelocityThresholds } from './logic.ts';

export interface VelocityConfig {
  thresholds: VelocityThresholds;
  seed: {
    /** Historical orders loaded into an empty database at start. @default 1000000 */
    orders: number;
    /** Seed of the history's generator. @default 1 */
    seed: number;
  };
  /** @default { max: 8 } */
  pool: { max: number };
  /** Orders checked in one statement, and statements running at once (lib/batch.ts). @default { maxBatch: 64, maxConcurrent: 3 } */
  batch: { maxBatch: number; maxConcurrent: number };
}

export const VELOCITY_DEFAULTS: VelocityConfig = {
  thresholds: DEFAULT_THRESHOLDS,
  seed: { orders: 1_000_000, seed: 1 },
  pool: { max: 8 },
  batch: { maxBatch: 64, maxConcurrent: 3 },
};

export function resolveVelocityConfig(raw: unknown): VelocityConfig {
  return resolveNumbers(VELOCITY_DEFAULTS, raw);
}
