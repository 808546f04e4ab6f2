import { z } from 'zod';
import { RampartError } from '../../platform/errors.ts';

/** An environment name as the API accepts it (names.ts: it becomes part of interface names). */
export const envName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,7}$/, 'an environment name (a-z, 0-9, -; at most 8 characters)');

/**
 * Validates a request part; the first problem becomes RAMPART_E_BAD_REQUEST naming the field
 * (`what` names the part when the problem is the part itself).
 */
export function parse<T>(schema: z.ZodType<T>, value: unknown, what = 'body'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  throw new RampartError('RAMPART_E_BAD_REQUEST', `${field || what}: ${issue?.message ?? 'invalid'}`, {
    field,
  });
}
