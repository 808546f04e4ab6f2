import { resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { ENV_VAR_NAME, envVarFix, integer, leaf, oneOf, patterned, text } from './fields.ts';
import { describeValue } from './problems.ts';

/**
 * `services.<name>.ci`: the service's CI pipeline, which Rampart triggers when a vulnerability with a
 * fix affects the running release (docs/vulnerabilities.md). Exactly one of gitlab, github, webhook;
 * credentials come from the daemon's environment or a file, never from the stack file itself.
 */

const httpUrl = (example: string) =>
  leaf(example, (v) => {
    if (typeof v === 'string') {
      try {
        const u = new URL(v);
        if (u.protocol === 'http:' || u.protocol === 'https:') return { value: v.replace(/\/+$/, '') };
      } catch {
        // reported below
      }
    }
    return { message: `expected an http(s) URL, got ${describeValue(v)}`, fix: `write it like ${example}` };
  });

const credentialSchema = z
  .strictObject({
    fromEnv: patterned({
      example: 'fromEnv: CI_TRIGGER_TOKEN',
      what: 'an environment variable name',
      problem: (s) => (ENV_VAR_NAME.test(s) ? undefined : 'is not a valid environment variable name'),
      fix: envVarFix,
    }).optional(),
    fromFile: text('fromFile: ./ci-token').optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.fromEnv === undefined) === (s.fromFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: s.fromEnv === undefined ? 'has no source' : 'has two sources',
        params: { fix: 'give exactly one of fromEnv or fromFile' },
      });
    }
  });

const SEVERITY_LEVELS = ['critical', 'high', 'moderate', 'low', 'unknown'] as const;

export const ciSchema = z
  .strictObject({
    gitlab: z
      .strictObject({
        url: httpUrl('url: https://gitlab.example.com'),
        project: leaf('project: 42', (v) =>
          (typeof v === 'number' && Number.isInteger(v) && v > 0) ||
          (typeof v === 'string' && v.trim() !== '')
            ? { value: String(v) }
            : {
                message: `expected a project id or path, got ${describeValue(v)}`,
                fix: 'write it like project: 42',
              },
        ),
        ref: text('ref: main').default('main'),
        token: credentialSchema,
      })
      .optional(),
    github: z
      .strictObject({
        url: httpUrl('url: https://api.github.com').default('https://api.github.com'),
        repo: patterned({
          example: 'repo: acme/payments',
          what: 'owner/name',
          problem: (s) => (/^[\w.-]+\/[\w.-]+$/.test(s) ? undefined : 'is not owner/name'),
          fix: 'write it like repo: acme/payments',
        }),
        workflow: text('workflow: fix-vulnerability.yml'),
        ref: text('ref: main').default('main'),
        token: credentialSchema,
      })
      .optional(),
    webhook: z
      .strictObject({ url: httpUrl('url: https://ci.example.com/hooks/rampart'), secret: credentialSchema })
      .optional(),
    when: z
      .strictObject({
        severity: oneOf('severity', SEVERITY_LEVELS, 'severity: high').default('high'),
        fixAvailable: z.boolean({ error: 'must be true or false' }).default(true),
        loaded: oneOf('loaded rule', ['any', 'loaded', 'not-unloaded'] as const, 'loaded: any').default(
          'any',
        ),
        production: z.boolean({ error: 'must be true or false' }).default(true),
        maxPerHour: integer(1, 1000, 'maxPerHour: 10').default(10),
      })
      .default({ severity: 'high', fixAvailable: true, loaded: 'any', production: true, maxPerHour: 10 }),
  })
  .superRefine((ci, ctx) => {
    const targets = (['gitlab', 'github', 'webhook'] as const).filter((k) => ci[k] !== undefined);
    if (targets.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          targets.length === 0
            ? 'names no pipeline'
            : `names ${targets.length} pipelines (${targets.join(', ')})`,
        params: { fix: 'give exactly one of gitlab, github or webhook' },
      });
    }
  });
export type CiInput = z.output<typeof ciSchema>;

/** Where a CI credential comes from: the daemon's environment, or a file (absolute path). */
export type ResolvedCredential = { fromEnv: string } | { fromFile: string };

export type ResolvedCiTarget =
  | { kind: 'gitlab'; url: string; project: string; ref: string; token: ResolvedCredential }
  | { kind: 'github'; url: string; repo: string; workflow: string; ref: string; token: ResolvedCredential }
  | { kind: 'webhook'; url: string; secret: ResolvedCredential };

export interface ResolvedCi {
  target: ResolvedCiTarget;
  /** The response rule: which findings trigger the pipeline. */
  when: {
    /** Lowest severity that triggers. @default 'high' */
    severity: (typeof SEVERITY_LEVELS)[number];
    /** Only findings with a fixed version trigger (others raise a "no fix" alert). @default true */
    fixAvailable: boolean;
    /** `loaded`: only when the module is loaded; `not-unloaded`: unless known not loaded. @default 'any' */
    loaded: 'any' | 'loaded' | 'not-unloaded';
    /** Only production dependencies trigger. @default true */
    production: boolean;
    /** At most this many triggers per service per hour. @default 10 */
    maxPerHour: number;
  };
}

export function resolveCi(ci: CiInput, dir: string): ResolvedCi {
  const cred = (c: { fromEnv?: string; fromFile?: string }): ResolvedCredential =>
    c.fromEnv !== undefined ? { fromEnv: c.fromEnv } : { fromFile: resolvePath(dir, c.fromFile!) };
  const target: ResolvedCiTarget = ci.gitlab
    ? {
        kind: 'gitlab',
        url: ci.gitlab.url,
        project: ci.gitlab.project,
        ref: ci.gitlab.ref,
        token: cred(ci.gitlab.token),
      }
    : ci.github
      ? {
          kind: 'github',
          url: ci.github.url,
          repo: ci.github.repo,
          workflow: ci.github.workflow,
          ref: ci.github.ref,
          token: cred(ci.github.token),
        }
      : { kind: 'webhook', url: ci.webhook!.url, secret: cred(ci.webhook!.secret) };
  return { target, when: { ...ci.when } };
}
