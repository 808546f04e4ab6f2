const SPECIAL = /[.*+?^${}()|[\]\\]/g;

/**
 * Replaces every occurrence of a secret value with `***`. Each value is also matched as it appears
 * inside a JSON string (escaped quotes, backslashes, control characters) and URL-encoded, the two
 * ways a service most often prints a secret without meaning to.
 */
export class Redactor {
  private pattern: RegExp | null = null;

  /** Replaces the set of values to redact (empty strings are ignored). */
  set(values: readonly string[]): void {
    const variants = new Set<string>();
    for (const v of values) {
      if (!v) continue;
      variants.add(v);
      variants.add(JSON.stringify(v).slice(1, -1));
      variants.add(encodeURIComponent(v));
    }
    if (variants.size === 0) {
      this.pattern = null;
      return;
    }
    // Longest first, so a secret containing another is replaced whole.
    const alternatives = [...variants]
      .sort((a, b) => b.length - a.length)
      .map((v) => v.replace(SPECIAL, '\\$&'));
    this.pattern = new RegExp(alternatives.join('|'), 'g');
  }

  get active(): boolean {
    return this.pattern !== null;
  }

  /** Whether `text` holds a secret (cheaper than `apply` when it does not). */
  test(text: string): boolean {
    if (!this.pattern) return false;
    this.pattern.lastIndex = 0;
    return this.pattern.test(text);
  }

  apply(text: string): string {
    return this.pattern ? text.replace(this.pattern, '***') : text;
  }

  /** Redacts every string inside a JSON-like value (keys are left alone). */
  applyDeep<T>(value: T): T {
    if (!this.pattern) return value;
    return this.deep(value) as T;
  }

  private deep(value: unknown): unknown {
    if (typeof value === 'string') return this.apply(value);
    if (Array.isArray(value)) return value.map((v) => this.deep(v));
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.deep(v);
      return out;
    }
    return value;
  }
}
