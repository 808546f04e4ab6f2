/**
 * A small seeded PRNG and the draws the generator needs. Deterministic on purpose: the same seed
 * gives the same merchants, customers and orders, so training, tests and benchmarks are repeatable.
 */

/** A uniform draw in [0, 1). */
export type Rand = () => number;

/** mulberry32: tiny, fast, good enough for synthetic data (not for anything secret). */
export function mulberry32(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes numbers and strings into one 32-bit seed (FNV-1a over their text). */
export function hashSeed(...parts: readonly (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = `${part}|`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  }
  return h >>> 0;
}

/** A PRNG derived from a seed and a label, so independent streams never share draws. */
export function rngFor(...parts: readonly (string | number)[]): Rand {
  return mulberry32(hashSeed(...parts));
}

export function int(rand: Rand, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

export function pick<T>(rand: Rand, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from an empty list');
  return items[Math.floor(rand() * items.length)]!;
}

/** Picks a key of `weights` with probability proportional to its weight. */
export function weighted<K extends string>(rand: Rand, weights: Readonly<Record<K, number>>): K {
  const entries = Object.entries(weights) as [K, number][];
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = rand() * total;
  for (const [k, w] of entries) {
    x -= w;
    if (x < 0) return k;
  }
  return entries[entries.length - 1]![0];
}

export function chance(rand: Rand, p: number): boolean {
  return rand() < p;
}

export function digits(rand: Rand, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(Math.floor(rand() * 10));
  return s;
}

export function letters(rand: Rand, n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz'): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
}

export function hex(rand: Rand, n: number): string {
  return letters(rand, n, '0123456789abcdef');
}

/** Standard normal (Box-Muller). */
export function normal(rand: Rand): number {
  const u = 1 - rand();
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Log-normal with the given median and spread (sigma of the underlying normal). */
export function logNormal(rand: Rand, median: number, sigma: number): number {
  return median * Math.exp(sigma * normal(rand));
}

/** Exponential inter-arrival time with the given mean. */
export function exponential(rand: Rand, mean: number): number {
  return -Math.log(1 - rand()) * mean;
}
