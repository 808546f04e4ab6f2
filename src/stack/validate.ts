import type { z } from 'zod';
import { describeValue, didYouMean, isPlainObject, closest } from './problems.ts';
import type { FieldPath, ProblemInput, ProblemList } from './problems.ts';
import {
  dataRuleSchema,
  databaseSchema,
  namespaceSchema,
  overlaySchema,
  overlayServiceSchema,
  rootSchema,
  serviceSchema,
} from './schema.ts';
import type { DataRuleInput, DatabaseInput, OverlayServiceInput, ServiceInput } from './schema.ts';

/** One entry of a section; `input` is undefined when the entry itself is invalid (already reported). */
export interface Entry<T> {
  name: string;
  input: T | undefined;
}

/**
 * A service or database, checked field by field: a bad field is left out of `fields` (and reported), the
 * others stay usable, so cross-references are still checked and every problem shows up in one run.
 */
export interface FieldEntry<T> {
  name: string;
  fields: Partial<T>;
  /** Every field passed; only then may the entry be resolved. */
  valid: boolean;
}

/** The stack file after the shape checks, before cross-references and defaults that need the environment. */
export interface StackInput {
  name: string;
  cidr?: string;
  namespaces: Entry<Record<string, string>>[];
  /** Overlays by environment; an overlay service that failed its check has `input` undefined. */
  environments: { name: string; services: Entry<OverlayServiceInput>[] }[];
  services: FieldEntry<ServiceInput>[];
  databases: FieldEntry<DatabaseInput>[];
  dataRules: DataRuleInput[];
}

/** Checks the shape of every part of the file, continuing past problems so all are reported at once. */
export function validateStack(raw: unknown, problems: ProblemList): StackInput {
  if (raw === null || raw === undefined) {
    problems.add({
      path: [],
      message: 'the stack file is empty',
      fix: 'start it with version: 1 and name: <stack>',
    });
    return { name: '', namespaces: [], environments: [], services: [], databases: [], dataRules: [] };
  }
  const root = check(rootSchema, raw, [], problems);
  // When the top level has problems, keep checking the sections the user did write.
  const sections: Record<string, unknown> = root.ok ? root.data : isPlainObject(raw) ? raw : {};
  const section = (name: string): [string, unknown][] => {
    const value = sections[name];
    return isPlainObject(value) ? Object.entries(value) : [];
  };
  const entries = <T>(name: string, schema: z.ZodType<T>): Entry<T>[] =>
    section(name).map(([key, item]) => {
      const result = check(schema, item, [name, key], problems);
      return { name: key, input: result.ok ? result.data : undefined };
    });
  const rules = Array.isArray(sections['dataRules']) ? sections['dataRules'] : [];
  return {
    name: root.ok ? root.data.name : '',
    ...(root.ok && root.data.network?.cidr !== undefined && { cidr: root.data.network.cidr }),
    namespaces: entries('namespaces', namespaceSchema).map(({ name, input }) => ({
      name,
      input: input === undefined ? undefined : (input?.labels ?? {}),
    })),
    environments: section('environments').map(([name, overlay]) => {
      check(overlaySchema, overlay, ['environments', name], problems);
      // Even when the overlay has a stray key, its services are checked (and names matched) one by one.
      const services =
        isPlainObject(overlay) && isPlainObject(overlay['services']) ? overlay['services'] : {};
      return {
        name,
        services: Object.entries(services).map(([service, item]) => {
          const result = check(
            overlayServiceSchema,
            item,
            ['environments', name, 'services', service],
            problems,
          );
          return { name: service, input: result.ok ? (result.data ?? {}) : undefined };
        }),
      };
    }),
    services: section('services').map(([name, item]) => ({
      name,
      ...checkFields<ServiceInput>(serviceSchema, item, ['services', name], problems),
    })),
    databases: section('databases').map(([name, item]) => ({
      name,
      ...checkFields<DatabaseInput>(databaseSchema, item, ['databases', name], problems),
    })),
    dataRules: rules.flatMap((rule, i) => {
      const result = check(dataRuleSchema, rule, ['dataRules', i], problems);
      return result.ok ? [result.data] : [];
    }),
  };
}

type Checked<T> = { ok: true; data: T } | { ok: false };

function check<T>(schema: z.ZodType<T>, value: unknown, base: FieldPath, problems: ProblemList): Checked<T> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, data: result.data };
  for (const issue of result.error.issues) {
    for (const problem of issueProblems(issue, base, schema)) problems.add(problem);
  }
  return { ok: false };
}

function checkFields<T>(
  schema: z.ZodObject,
  value: unknown,
  base: FieldPath,
  problems: ProblemList,
): { fields: Partial<T>; valid: boolean } {
  if (!isPlainObject(value)) {
    check(schema, value, base, problems);
    return { fields: {}, valid: false };
  }
  const shape = schema.shape as Record<string, z.ZodType>;
  const unknownKeys = Object.keys(value).filter((k) => !Object.hasOwn(shape, k));
  let valid = unknownKeys.length === 0;
  if (!valid) {
    const issue: z.core.$ZodIssue = {
      code: 'unrecognized_keys',
      keys: unknownKeys,
      path: [],
      input: value,
      message: '',
    };
    for (const problem of issueProblems(issue, base, schema)) problems.add(problem);
  }
  const fields: Record<string, unknown> = {};
  for (const [key, fieldSchema] of Object.entries(shape)) {
    const result = check(fieldSchema, value[key], [...base, key], problems);
    if (!result.ok) valid = false;
    else if (result.data !== undefined) fields[key] = result.data;
  }
  return { fields: fields as Partial<T>, valid };
}

/** Turns one zod issue into problems with a message and a fix (one per unknown key). */
function issueProblems(issue: z.core.$ZodIssue, base: FieldPath, schema: z.ZodType): ProblemInput[] {
  const path = [...base, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
  const last = [...path].reverse().find((p) => typeof p === 'string') ?? 'value';
  switch (issue.code) {
    case 'custom':
      return [
        {
          path,
          message: issue.message,
          fix: String(issue.params?.['fix'] ?? 'see docs/stack-file.md'),
          anchor: issue.params?.['anchor'] === 'key' ? 'key' : 'value',
        },
      ];
    case 'invalid_key': {
      const inner = issue.issues[0];
      const fix = inner?.code === 'custom' ? String(inner.params?.['fix'] ?? '') : '';
      return [
        { path, message: inner?.message ?? issue.message, fix: fix || 'rename the key', anchor: 'key' },
      ];
    }
    case 'unrecognized_keys': {
      const allowed = allowedKeys(schema, issue.path);
      return issue.keys.map((key) => {
        const best = closest(key, allowed);
        return {
          path: [...path, key],
          anchor: 'key' as const,
          message: `unknown key '${key}'${didYouMean(key, allowed)}`,
          fix:
            best !== undefined ? `rename it to '${best}'` : `remove it; allowed here: ${allowed.join(', ')}`,
        };
      });
    }
    case 'invalid_type': {
      const noun =
        issue.expected === 'array'
          ? 'a list'
          : issue.expected === 'object' || issue.expected === 'record'
            ? 'a mapping'
            : `a ${issue.expected}`;
      if (issue.input === undefined)
        return [{ path, message: 'is required', fix: `add ${last}: as ${noun}` }];
      const fix =
        noun === 'a list'
          ? 'write it as a list, e.g. [a, b]'
          : noun === 'a mapping'
            ? 'write it as a mapping of key: value lines'
            : `write ${noun}`;
      return [{ path, message: `expected ${noun}, got ${describeValue(issue.input)}`, fix }];
    }
    case 'too_small':
      if (issue.origin === 'array')
        return [
          {
            path,
            message: 'must not be an empty list',
            fix: `list at least ${String(issue.minimum)} item, or remove ${last} to get the default`,
          },
        ];
      return [{ path, message: issue.message, fix: 'see docs/stack-file.md' }];
    default:
      return [{ path, message: issue.message, fix: 'see docs/stack-file.md' }];
  }
}

interface SchemaDef {
  type: string;
  innerType?: SchemaLike;
  in?: SchemaLike;
  shape?: Record<string, SchemaLike>;
  valueType?: SchemaLike;
  element?: SchemaLike;
}
interface SchemaLike {
  _zod: { def: SchemaDef };
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/** The keys a strict object at `path` accepts, read from the schema itself so suggestions never drift. */
function allowedKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const unwrap = (s: SchemaLike | undefined): SchemaLike | undefined => {
    let current = s;
    while (current) {
      const def: SchemaDef = current._zod.def;
      if (WRAPPERS.has(def.type) && def.innerType) current = def.innerType;
      else if (def.type === 'pipe' && def.in) current = def.in;
      else break;
    }
    return current;
  };
  let node = unwrap(schema as unknown as SchemaLike);
  for (const segment of path) {
    const def = node?._zod.def;
    if (def?.type === 'object') node = unwrap(def.shape?.[String(segment)]);
    else if (def?.type === 'record') node = unwrap(def.valueType);
    else if (def?.type === 'array') node = unwrap(def.element);
    else return [];
  }
  const def = node?._zod.def;
  return def?.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}
