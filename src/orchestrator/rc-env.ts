/**
 * Renders a config tree as the environment variables the `rc` package reads: `<app>_<key>`, with
 * `__` between nested keys (rc splits on `__` and deep-merges). rc hands values to the service as
 * strings, as it does for any environment variable; arrays, which rc cannot express in variables,
 * arrive as one JSON string.
 */
export function renderRcEnv(app: string, config: Readonly<Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (prefix: string, value: unknown): void => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(`${prefix}__${k}`, v);
      return;
    }
    out[prefix] = Array.isArray(value) ? JSON.stringify(value) : value === null ? '' : String(value);
  };
  for (const [key, value] of Object.entries(config)) walk(`${app}_${key}`, value);
  return out;
}

/** The inverse view, for `rampart config`: dotted key -> value. */
export function flattenConfig(
  config: Readonly<Record<string, unknown>>,
  prefix = '',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      Object.assign(out, flattenConfig(v as Record<string, unknown>, key));
    else out[key] = v;
  }
  return out;
}
