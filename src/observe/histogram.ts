/**
 * A latency histogram with log-scale buckets (8 per doubling, from 1 µs): quantiles within ±4.4%,
 * mergeable by adding counts, small to store (only non-empty buckets). 10-second buckets of the
 * metrics store keep one per series, and the 1-minute rollups are their sums.
 */
const PER_DOUBLING = 8;
const MIN_NS = 1_000;

export function bucketOf(ns: number): number {
  if (!(ns > MIN_NS)) return 0;
  return Math.ceil(Math.log2(ns / MIN_NS) * PER_DOUBLING);
}

/** The geometric middle of a bucket, in nanoseconds. */
export function bucketValue(index: number): number {
  if (index <= 0) return MIN_NS;
  return MIN_NS * 2 ** ((index - 0.5) / PER_DOUBLING);
}

export class LatencyHistogram {
  readonly counts = new Map<number, number>();
  total = 0;

  add(ns: number, n = 1): void {
    const b = bucketOf(ns);
    this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    this.total += n;
  }

  merge(other: LatencyHistogram): this {
    for (const [b, n] of other.counts) this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    this.total += other.total;
    return this;
  }

  /** Nanoseconds at quantile q (0..1), or null when empty. */
  quantile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b) ?? 0;
      if (seen >= rank) return bucketValue(b);
    }
    return null;
  }

  /** `bucket:count,…` */
  serialize(): string {
    return [...this.counts].map(([b, n]) => `${b}:${n}`).join(',');
  }

  static parse(text: string | null | undefined): LatencyHistogram {
    const h = new LatencyHistogram();
    if (!text) return h;
    for (const part of text.split(',')) {
      const [b, n] = part.split(':');
      const count = Number(n);
      if (b === undefined || !Number.isFinite(count)) continue;
      h.counts.set(Number(b), (h.counts.get(Number(b)) ?? 0) + count);
      h.total += count;
    }
    return h;
  }
}
