import { describeValue, didYouMean, isPlainObject } from '../stack/index.ts';
import type { LabelSelector, LabelSelectorRequirement } from './types.ts';

/**
 * Kubernetes label selectors (apimachinery `metav1.LabelSelectorAsSelector`): every `matchLabels`
 * pair AND every `matchExpressions` requirement must hold; an empty selector `{}` matches
 * everything. `NotIn` and `DoesNotExist` match objects that lack the key, as in Kubernetes.
 */
export function matchesSelector(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every((r) => matchesRequirement(r, labels));
}

export function matchesRequirement(
  requirement: LabelSelectorRequirement,
  labels: Readonly<Record<string, string>>,
): boolean {
  const has = Object.hasOwn(labels, requirement.key);
  const value = labels[requirement.key];
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case 'In':
      return has && values.includes(value!);
    case 'NotIn':
      return !has || !values.includes(value!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

/** True for `{}` (and `{ matchLabels: {}, matchExpressions: [] }`): it selects every object. */
export function isEmptySelector(selector: LabelSelector): boolean {
  return (
    Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0
  );
}

/**
 * The selector as `kubectl` prints it: `app=web,tier in (a,b),!legacy`; `<all>` for `{}`.
 * Used in messages and in the comments of the compiled ruleset.
 */
export function formatSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  for (const r of selector.matchExpressions ?? []) {
    const values = `(${[...(r.values ?? [])].sort().join(',')})`;
    if (r.operator === 'In') parts.push(`${r.key} in ${values}`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin ${values}`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else parts.push(`!${r.key}`);
  }
  return parts.length === 0 ? '<all>' : parts.join(',');
}

// Kubernetes' validation of label keys and values (apimachinery validation.IsQualifiedName / IsValidLabelValue).
const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is not a valid label (or annotation) key `[prefix/]name`, or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `its prefix '${prefix}' must be a DNS subdomain (lowercase letters, digits, '-' and '.')`;
  }
  if (name.length === 0 || name.length > 63) return 'its name part must be 1 to 63 characters';
  if (!NAME_PART.test(name)) {
    return "its name part must start and end with a letter or digit and hold only letters, digits, '-', '_' and '.'";
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined (the empty string is valid). */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63) return 'a label value is at most 63 characters';
  if (value !== '' && !NAME_PART.test(value)) {
    return "a label value must start and end with a letter or digit and hold only letters, digits, '-', '_' and '.'";
  }
  return undefined;
}

/** Whether `name` is a DNS subdomain (RFC 1123) of at most 253 characters, as object names must be. */
export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

// ---- validation, for the policy parser (policy.ts) -------------------------------------------------

type FieldPath = (string | number)[];

/** The parser's problem collector, as these checks use it. */
export interface Checker {
  add(path: FieldPath, message: string, fix: string, anchor?: 'key' | 'value'): void;
  mapping(
    value: unknown,
    path: FieldPath,
    allowed: readonly string[],
    example: string,
  ): Record<string, unknown> | undefined;
  list(value: unknown, path: FieldPath, example: string): unknown[] | undefined;
  string(value: unknown, path: FieldPath, example: string): string | undefined;
}

/** A map of label (or annotation) keys to string values; YAML numbers and booleans must be quoted. */
export function checkLabelMap(
  raw: unknown,
  path: FieldPath,
  c: Checker,
  isLabels: boolean,
): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isPlainObject(raw)) {
    c.add(path, `expected a mapping, got ${describeValue(raw)}`, 'write it like { app: web }');
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem)
      c.add(
        [...path, key],
        `invalid key '${key}': ${keyProblem}`,
        'use a key like app or example.com/tier',
        'key',
      );
    const text = c.string(value, [...path, key], "'web'");
    if (text === undefined) continue;
    const valueProblem = isLabels ? labelValueProblem(text) : undefined;
    if (valueProblem)
      c.add([...path, key], `invalid value '${text}': ${valueProblem}`, 'use a value like web or v1.2');
    out[key] = text;
  }
  return out;
}

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

export function checkSelector(raw: unknown, path: FieldPath, c: Checker): LabelSelector {
  const s = c.mapping(raw, path, ['matchLabels', 'matchExpressions'], '{ matchLabels: { app: web } }');
  if (!s) return {};
  const selector: LabelSelector = {};
  const labels = checkLabelMap(s['matchLabels'], [...path, 'matchLabels'], c, true);
  if (labels) selector.matchLabels = labels;
  if (s['matchExpressions'] !== undefined && s['matchExpressions'] !== null) {
    const items = c.list(
      s['matchExpressions'],
      [...path, 'matchExpressions'],
      '- { key: tier, operator: In, values: [web] }',
    );
    const expressions: LabelSelectorRequirement[] = [];
    items?.forEach((item, i) => {
      const at: FieldPath = [...path, 'matchExpressions', i];
      const e = c.mapping(
        item,
        at,
        ['key', 'operator', 'values'],
        '{ key: tier, operator: In, values: [web] }',
      );
      if (!e) return;
      let key: string | undefined;
      if (e['key'] === undefined) c.add(at, 'key is required', 'add key: <label key>');
      else {
        key = c.string(e['key'], [...at, 'key'], 'tier');
        const problem = key === undefined ? undefined : labelKeyProblem(key);
        if (problem)
          c.add([...at, 'key'], `invalid key '${key}': ${problem}`, 'use a key like app or example.com/tier');
      }
      const operator = e['operator'];
      if (operator === undefined)
        c.add(at, 'operator is required', `add operator: one of ${OPERATORS.join(', ')}`);
      else if (!OPERATORS.includes(operator as (typeof OPERATORS)[number])) {
        const shown =
          typeof operator === 'string'
            ? `'${operator}'${didYouMean(operator, OPERATORS)}`
            : describeValue(operator);
        c.add([...at, 'operator'], `unknown operator ${shown}`, `use one of ${OPERATORS.join(', ')}`);
      }
      const values: string[] = [];
      if (e['values'] !== undefined && e['values'] !== null) {
        c.list(e['values'], [...at, 'values'], '[web, api]')?.forEach((v, j) => {
          const text = c.string(v, [...at, 'values', j], 'web');
          if (text !== undefined) values.push(text);
        });
      }
      const setOp = operator === 'In' || operator === 'NotIn';
      if (setOp && values.length === 0)
        c.add([...at, 'values'], `${operator} needs at least one value`, 'add values: [<value>, ...]');
      if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) {
        c.add([...at, 'values'], `${operator} takes no values`, 'remove values, or use In / NotIn');
      }
      if (key !== undefined && OPERATORS.includes(operator as (typeof OPERATORS)[number])) {
        expressions.push({
          key,
          operator: operator as LabelSelectorRequirement['operator'],
          ...(setOp && { values }),
        });
      }
    });
    selector.matchExpressions = expressions;
  }
  return selector;
}
