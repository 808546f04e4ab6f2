/**
 * JSON with object keys sorted (code-unit order) and undefined properties left out, so equal values
 * give equal text whatever their key order: for comparing values, not for showing them.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
