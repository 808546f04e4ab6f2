/**
 * Merchant authentication and rate limits. API keys are never stored: config holds the SHA-256 of
 * each key, and a request's key is hashed and looked up. Limits are token buckets per merchant,
 * kept in each gateway replica's memory (a limit of N/s with 2 replicas admits up to 2N/s).
 */
import { createHash } from 'node:crypto';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export interface MerchantConfig {
  merchantId: string;
  apiKeyHash: string;
  rateLimit: { perSecond: number; burst: number };
}

export interface MerchantRegistry {
  /** The merchant whose key hashes to this, if any. */
  byKey(apiKey: string): MerchantConfig | undefined;
  size: number;
}

/**
 * `{ <merchantId>: { apiKeyHash, rateLimit: { perSecond, burst } } }` from rc (values from the
 * environment are strings) into a lookup by key hash. A malformed entry stops the gateway at start.
 */
export function merchantRegistry(
  raw: Record<string, unknown> | undefined,
  defaults: { perSecond: number; burst: number },
): MerchantRegistry {
  const byHash = new Map<string, MerchantConfig>();
  for (const [merchantId, value] of Object.entries(raw ?? {})) {
    const m = (value ?? {}) as { apiKeyHash?: unknown; rateLimit?: { perSecond?: unknown; burst?: unknown } };
    const hash = String(m.apiKeyHash ?? '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hash))
      throw new Error(`gateway config: merchants.${merchantId}.apiKeyHash must be a SHA-256 hex digest`);
    const perSecond = Number(m.rateLimit?.perSecond ?? defaults.perSecond);
    const burst = Number(m.rateLimit?.burst ?? defaults.burst);
    if (!(perSecond > 0) || !(burst >= 1))
      throw new Error(`gateway config: merchants.${merchantId}.rateLimit needs perSecond > 0 and burst >= 1`);
    if (byHash.has(hash))
      throw new Error(`gateway config: merchants.${merchantId} reuses another merchant's API key`);
    byHash.set(hash, { merchantId, apiKeyHash: hash, rateLimit: { perSecond, burst } });
  }
  // Keys seen before skip the hash: only keys that matched are remembered (at most one per
  // merchant), so unknown keys cannot grow the map.
  const known = new Map<string, MerchantConfig>();
  return {
    byKey: (key) => {
      const hit = known.get(key);
      if (hit) return hit;
      const merchant = byHash.get(hashApiKey(key));
      if (merchant && known.size < byHash.size * 4) known.set(key, merchant);
      return merchant;
    },
    size: byHash.size,
  };
}

/** A token bucket: `burst` tokens, refilled at `perSecond`; each request takes one. */
export class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(
    private readonly limit: { perSecond: number; burst: number },
    now: number,
  ) {
    this.#tokens = limit.burst;
    this.#last = now;
  }

  /** Takes a token: 0 when admitted, else the ms until one is available. */
  take(now: number): number {
    const elapsed = Math.max(0, now - this.#last);
    this.#last = now;
    this.#tokens = Math.min(this.limit.burst, this.#tokens + (elapsed * this.limit.perSecond) / 1000);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.limit.perSecond);
  }
}

/** One bucket per merchant, made on first use. */
export class RateLimiter {
  readonly #buckets = new Map<string, TokenBucket>();
  constructor(private readonly clock: () => number = () => performance.now()) {}

  take(merchant: MerchantConfig): number {
    const now = this.clock();
    let b = this.#buckets.get(merchant.merchantId);
    if (!b) this.#buckets.set(merchant.merchantId, (b = new TokenBucket(merchant.rateLimit, now)));
    return b.take(now);
  }
}
