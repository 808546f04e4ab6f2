import type { RampartError } from '../platform/errors.ts';

/** Renders rows as an aligned text table (like `docker ps`). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function formatError(error: RampartError): string {
  return `error ${error.code}: ${error.message}\nhint: ${error.hint}`;
}

export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}
