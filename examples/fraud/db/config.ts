/**
 * Configuration helper for the signal services, which read `rc` config with numeric settings: env
 * overrides such as `credit_seed__persons=5000` arrive as strings, so every leaf is coerced to a
 * number and a value that is not one fails the start with the key's name.
 */

/** Every numeric leaf of `defaults`, overridden by the same path in `raw` (numbers or numeric strings). Other keys of `raw` are ignored. */
export function resolveNumbers<T>(defaults: T, raw: unknown, path = ''): T {
  if (typeof defaults === 'number') {
    if (raw === undefined || raw === null || raw === '') return defaults;
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw.trim()) : NaN;
    if (!Number.isFinite(n)) throw new Error(`config ${path}: expected a number, got ${JSON.stringify(raw)}`);
    return n as T;
  }
  const out: Record<string, unknown> = {};
  const given = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  for (const [key, value] of Object.entries(defaults as Record<string, unknown>)) {
    out[key] = resolveNumbers(value, given[key], path ? `${path}.${key}` : key);
  }
  return out as T;
}
