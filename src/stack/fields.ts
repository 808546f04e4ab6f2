import { z } from 'zod';
import { parseDuration } from '../platform/clock.ts';
import { DNS_LABEL_PATTERN, MAX_DNS_LABEL, envNameProblem } from '../platform/names.ts';
import { describeValue, didYouMean, isPlainObject } from './problems.ts';

/**
 * Building blocks of the stack file schema: leaves checked by small functions that return a message and
 * a fix, so every error tells the user what to write instead, and the name and format rules.
 */

// `value?: never` keeps TypeScript from inferring `T | undefined` from the error branch's object literal.
type Checked<T> = { value: T } | { message: string; fix: string; value?: never };
type Check<T> = (value: unknown) => Checked<T>;

/** A leaf whose check owns the whole message, including "is required" (`example` shows the fix). */
export function leaf<T>(example: string, check: Check<T>) {
  const schema = z.unknown().transform((input, ctx): T => {
    const result: Checked<T> =
      input === undefined ? { message: 'is required', fix: `add it, e.g. ${example}` } : check(input);
    if (!('message' in result)) return result.value;
    ctx.addIssue({ code: 'custom', message: result.message, params: { fix: result.fix }, input });
    return z.NEVER;
  });
  // z.unknown() runs the transform on a missing key, so our "is required" message wins, but it types
  // the key as optional; the cast restores "required unless .optional()", which is what happens at runtime.
  return schema as unknown as z.ZodPipe<z.ZodCustom<unknown>, z.ZodTransform<T, unknown>>;
}

/** A record key check: the problem points at the key itself. */
export function key(check: (key: string) => { message: string; fix: string } | undefined) {
  return z.string().transform((input, ctx) => {
    const problem = check(input);
    if (problem)
      ctx.addIssue({
        code: 'custom',
        message: problem.message,
        params: { fix: problem.fix, anchor: 'key' },
        input,
      });
    return input;
  });
}

export function integer(min: number, max: number, example: string) {
  return leaf(example, (v) => {
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return { value: v };
    const quoted = typeof v === 'string' && /^\d+$/.test(v.trim());
    return {
      message: `expected a whole number from ${min} to ${max}, got ${describeValue(v)}`,
      fix: quoted ? 'remove the quotes' : `write a whole number from ${min} to ${max}, e.g. ${example}`,
    };
  });
}

export function text(example: string) {
  return leaf(example, (v) =>
    typeof v === 'string' && v.trim() !== ''
      ? { value: v }
      : { message: `expected a non-empty string, got ${describeValue(v)}`, fix: `write it like ${example}` },
  );
}

export function oneOf<const T extends string>(noun: string, allowed: readonly T[], example: string) {
  return leaf(example, (v) => {
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return { value: v as T };
    const shown = typeof v === 'string' ? `'${v}'${didYouMean(v, allowed)}` : describeValue(v);
    return { message: `unknown ${noun} ${shown}`, fix: `use one of ${allowed.join(', ')}` };
  });
}

export function patterned(opts: {
  example: string;
  what: string;
  problem: (s: string) => string | undefined;
  fix: string;
}) {
  return leaf(opts.example, (v) => {
    if (typeof v !== 'string') {
      return {
        message: `expected ${opts.what}, got ${describeValue(v)}`,
        fix: `write it like ${opts.example}`,
      };
    }
    const problem = opts.problem(v);
    return problem === undefined ? { value: v } : { message: `'${v}' ${problem}`, fix: opts.fix };
  });
}

/** Why `name` is not a DNS label (RFC 1123, as Kubernetes names), or undefined. */
export function dnsLabelProblem(name: string): string | undefined {
  if (name.length > MAX_DNS_LABEL)
    return `is ${name.length} characters; names allow at most ${MAX_DNS_LABEL}`;
  if (!DNS_LABEL_PATTERN.test(name)) return 'is not a DNS label';
  return undefined;
}

export function dnsLabelFix(name: string): string {
  const suggestion = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_DNS_LABEL)
    .replace(/-+$/, '');
  const example = suggestion !== '' && suggestion !== name ? `, e.g. '${suggestion}'` : '';
  return `use at most ${MAX_DNS_LABEL} lowercase letters, digits and '-', starting and ending with a letter or digit${example}`;
}

export const dnsName = (example: string) =>
  leaf(example, (v) => {
    if (typeof v !== 'string')
      return { message: `expected a name, got ${describeValue(v)}`, fix: `write it like ${example}` };
    const problem = dnsLabelProblem(v);
    return problem === undefined ? { value: v } : { message: `'${v}' ${problem}`, fix: dnsLabelFix(v) };
  });

export const dnsKey = key((k) => {
  const problem = dnsLabelProblem(k);
  return problem === undefined ? undefined : { message: `name '${k}' ${problem}`, fix: dnsLabelFix(k) };
});

export const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const envVarFix = 'use letters, digits and _, not starting with a digit';
export const envVarKey = key((k) =>
  ENV_VAR_NAME.test(k)
    ? undefined
    : { message: `'${k}' is not a valid environment variable name`, fix: envVarFix },
);

/** Kubernetes IANA_SVC_NAME: what a named port may be called. */
export function portNameProblem(name: string): string | undefined {
  if (name.length > 15) return `is ${name.length} characters; port names allow at most 15`;
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name) || name.includes('--')) {
    return "may hold only lowercase letters, digits and single '-', starting and ending with a letter or digit";
  }
  if (!/[a-z]/.test(name)) return 'needs at least one letter';
  return undefined;
}

/** Kubernetes label syntax: `[prefix/]name`, name and value at most 63 characters. */
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
function labelKeyProblem(k: string): string | undefined {
  const slash = k.lastIndexOf('/');
  const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return 'has an invalid prefix';
  if (name.length > 63 || !LABEL_NAME.test(name)) return 'is not a valid label name';
  return undefined;
}
const labelFix =
  "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";

export const labelsSchema = z.record(
  key((k) => {
    const problem = labelKeyProblem(k);
    return problem === undefined ? undefined : { message: `label key '${k}' ${problem}`, fix: labelFix };
  }),
  leaf('tier: web', (v) => {
    const value = typeof v === 'number' || typeof v === 'boolean' ? String(v) : v;
    if (typeof value !== 'string')
      return { message: `expected a label value, got ${describeValue(v)}`, fix: 'write a string' };
    if (value === '' || (value.length <= 63 && LABEL_NAME.test(value))) return { value };
    return { message: `label value '${value}' is not valid`, fix: labelFix };
  }),
);

/** A plain scalar (string, number or boolean) as the text an env var or a setting takes; else undefined. */
export function scalarText(v: unknown): string | undefined {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

export const envSchema = z.record(
  envVarKey,
  leaf('KEY: value', (v) => {
    const value = scalarText(v);
    return value !== undefined
      ? { value }
      : {
          message: `expected a string, number or boolean, got ${describeValue(v)}`,
          fix: "write a plain value; use '' for empty",
        };
  }),
);

/** rc splits env var names on `__` to nest keys, so a key holding `__` could not round-trip. */
function configKeyProblems(
  tree: Record<string, unknown>,
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  for (const [k, v] of Object.entries(tree)) {
    if (k.includes('__') || k.includes('=') || k === '') {
      ctx.addIssue({
        code: 'custom',
        path: [...path, k],
        message: `config key '${k}' cannot be empty or hold '__' or '=' (rc nests keys on '__')`,
        params: { fix: 'rename the key or nest it as a mapping', anchor: 'key' },
      });
    }
    if (isPlainObject(v)) configKeyProblems(v, [...path, k], ctx);
  }
}
export const configSchema = z
  .record(z.string(), z.unknown())
  .superRefine((tree, ctx) => configKeyProblems(tree, [], ctx));

export const duration = (example: string) =>
  leaf(example, (v) => {
    const ms = typeof v === 'string' ? parseDuration(v) : v === 0 ? 0 : undefined;
    if (ms !== undefined) return { value: ms };
    const bare = typeof v === 'number' ? ` (a bare number has no unit)` : '';
    return {
      message: `expected a duration, got ${describeValue(v)}${bare}`,
      fix: `write a number with a unit (ms, s, m, h), e.g. ${example}`,
    };
  });

/** A port named in `ports` or a port number; resolved against the service's ports in checks.ts. */
export type PortRef = string | number;
export const portRef = leaf<PortRef>('port: http', (v) =>
  (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535) ||
  (typeof v === 'string' && v !== '')
    ? { value: v }
    : {
        message: `expected a port name or a number from 1 to 65535, got ${describeValue(v)}`,
        fix: 'name a port from ports, e.g. port: http',
      },
);

/** Parses an IPv4 CIDR, requiring host bits to be zero so the pool is what the user thinks it is. */
export function cidrProblem(v: string): { message: string; fix: string } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  if (!m || octets.some((o) => o > 255))
    return { message: `'${v}' is not an IPv4 CIDR`, fix: 'write it like cidr: 198.18.0.0/15' };
  const prefix = Number(m[5]);
  if (prefix > 20)
    return {
      message: `prefix /${prefix} is too small a pool`,
      fix: 'use a prefix of /20 or shorter, e.g. 198.18.0.0/15',
    };
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const network = address - (address % size);
  if (network === address) return undefined;
  const start = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.');
  return { message: `'${v}' has host bits set`, fix: `use ${start}/${prefix}` };
}

/** Why an environment name cannot name kernel objects, split into what is wrong and what to do. */
export function envNameIssue(env: string): { message: string; fix: string } | undefined {
  const problem = envNameProblem(env);
  if (problem === undefined) return undefined;
  const cut = problem.lastIndexOf('; ');
  return cut < 0
    ? { message: `environment name '${env}' ${problem}`, fix: 'rename the environment, e.g. staging' }
    : { message: `environment name '${env}' is ${problem.slice(0, cut)}`, fix: problem.slice(cut + 2) };
}

export const envKey = key(envNameIssue);
