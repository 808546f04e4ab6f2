import { parseDuration } from '../platform/clock.ts';

/**
 * A time bound as users give it: a duration back from now (`15m`, `2h`), epoch milliseconds, or an
 * ISO 8601 date. Undefined when absent; throws on anything else.
 */
export function parseTimeBound(value: string | number | undefined, now: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'number') return value;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const ago = parseDuration(v);
  if (ago !== undefined) return now - ago;
  const ms = Date.parse(v);
  if (!Number.isNaN(ms)) return ms;
  throw new Error(`not a time: ${JSON.stringify(value)} (use 15m, 2h, epoch milliseconds or an ISO date)`);
}
