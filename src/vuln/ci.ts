import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { RampartError } from '../platform/errors.ts';
import type { ResolvedCi, ResolvedCiTarget, ResolvedCredential } from '../stack/index.ts';
import { SEVERITIES, type Finding } from './types.ts';

/** Which release a trigger is about. */
export interface TriggerContext {
  environment: string;
  service: string;
  /** The finding record's id (`rampart vuln show <id>`). */
  findingId: string;
}

/** An HTTP request, planned purely; `sendTrigger` sends it. */
export interface PlannedRequest {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The variables every pipeline gets; GitLab sees them as `variables[...]`, GitHub as inputs. */
export function triggerVariables(finding: Finding, ctx: TriggerContext): Record<string, string> {
  return {
    RAMPART_PACKAGE: finding.package,
    RAMPART_INSTALLED_VERSION: finding.version,
    RAMPART_FIXED_VERSION: finding.fixedVersion ?? '',
    RAMPART_ADVISORY: finding.advisory,
    RAMPART_ALIASES: finding.aliases.join(','),
    RAMPART_SEVERITY: finding.severity,
    RAMPART_ENVIRONMENT: ctx.environment,
    RAMPART_SERVICE: ctx.service,
    RAMPART_FINDING: ctx.findingId,
  };
}

/**
 * Pure: the request that starts the pipeline.
 * - GitLab: `POST /api/v4/projects/:id/trigger/pipeline`, form fields token, ref, variables[...].
 * - GitHub: `POST /repos/:owner/:repo/actions/workflows/:id/dispatches` with `{ ref, inputs }` (inputs in
 *   lower case: rampart_package, ...; GitHub allows at most 25, the workflow declares them).
 * - Webhook: JSON body signed with HMAC-SHA256 in `X-Rampart-Signature: sha256=<hex>`.
 */
export function planTrigger(
  target: ResolvedCiTarget,
  credential: string,
  finding: Finding,
  ctx: TriggerContext,
  now: number,
): PlannedRequest {
  const vars = triggerVariables(finding, ctx);
  if (target.kind === 'gitlab') {
    const form = new URLSearchParams({ token: credential, ref: target.ref });
    for (const [k, v] of Object.entries(vars)) form.append(`variables[${k}]`, v);
    return {
      method: 'POST',
      url: `${target.url}/api/v4/projects/${encodeURIComponent(target.project)}/trigger/pipeline`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    };
  }
  if (target.kind === 'github') {
    const inputs = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k.toLowerCase(), v]));
    return {
      method: 'POST',
      url: `${target.url}/repos/${target.repo}/actions/workflows/${encodeURIComponent(target.workflow)}/dispatches`,
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${credential}`,
        'content-type': 'application/json',
        'x-github-api-version': '2022-11-28',
      },
      body: JSON.stringify({ ref: target.ref, inputs }),
    };
  }
  const body = JSON.stringify({
    event: 'rampart.vulnerability.fix',
    time: new Date(now).toISOString(),
    environment: ctx.environment,
    service: ctx.service,
    finding: ctx.findingId,
    variables: vars,
  });
  return {
    method: 'POST',
    url: target.url,
    headers: {
      'content-type': 'application/json',
      'x-rampart-event': 'rampart.vulnerability.fix',
      'x-rampart-signature': signWebhook(credential, body),
    },
    body,
  };
}

/** `sha256=<hex HMAC-SHA256 of the raw body>` (the receiver recomputes it with the shared secret). */
export function signWebhook(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export async function readCredential(
  c: ResolvedCredential,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  if ('fromEnv' in c) {
    const v = env[c.fromEnv];
    if (v === undefined || v === '')
      throw new RampartError(
        'RAMPART_E_CI_TRIGGER',
        `CI credential variable ${c.fromEnv} is not set in the daemon's environment`,
        {
          fix: `set ${c.fromEnv} where the Rampart daemon runs, or use fromFile`,
        },
      );
    return v;
  }
  try {
    return (await readFile(c.fromFile, 'utf8')).trim();
  } catch (error) {
    throw new RampartError(
      'RAMPART_E_CI_TRIGGER',
      `cannot read CI credential file ${c.fromFile}: ${(error as Error).message}`,
      {
        file: c.fromFile,
        fix: 'create the file (readable by the daemon) or use fromEnv',
      },
    );
  }
}

export interface TriggerResult {
  status: number;
  /** What the CI answered (first 500 characters). */
  response: string;
  /** GitLab's pipeline id / URL when it says. */
  pipeline?: { id?: number; url?: string };
}

/** Thin applier: sends the planned request; a non-2xx answer is RAMPART_E_CI_TRIGGER. */
export async function sendTrigger(
  req: PlannedRequest,
  doFetch: typeof fetch = fetch,
): Promise<TriggerResult> {
  let res: Response;
  try {
    res = await doFetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new RampartError(
      'RAMPART_E_CI_TRIGGER',
      `cannot reach ${redact(req.url)}: ${(error as Error).message}`,
    );
  }
  const text = (await res.text()).slice(0, 500);
  if (!res.ok)
    throw new RampartError('RAMPART_E_CI_TRIGGER', `${redact(req.url)} answered ${res.status}: ${text}`);
  let pipeline: TriggerResult['pipeline'];
  try {
    const j = JSON.parse(text) as { id?: number; web_url?: string };
    if (j.id !== undefined || j.web_url !== undefined)
      pipeline = {
        ...(j.id !== undefined && { id: j.id }),
        ...(j.web_url !== undefined && { url: j.web_url }),
      };
  } catch {
    // GitHub answers 204 with no body; webhooks answer what they like.
  }
  return { status: res.status, response: text, ...(pipeline && { pipeline }) };
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

export type ResponseAction = 'trigger' | 'alert' | 'alert-no-fix';

/**
 * Pure: the response rule. A finding without a fix always raises a "no fix" alert; otherwise the
 * service's `ci.when` decides whether its pipeline runs. No ci block: alert only.
 */
export function decideResponse(
  finding: Finding,
  ci: ResolvedCi | undefined,
): { action: ResponseAction; reason: string } {
  if (finding.fixedVersion === undefined) {
    if (ci && !ci.when.fixAvailable)
      return { action: 'trigger', reason: 'no fixed version, but ci.when.fixAvailable is false' };
    return {
      action: 'alert-no-fix',
      reason: `no fixed version of ${finding.package} is published for ${finding.advisory}`,
    };
  }
  if (!ci) return { action: 'alert', reason: 'the service has no ci block to trigger' };
  const w = ci.when;
  if (w.production && !finding.production)
    return { action: 'alert', reason: 'a dev dependency (ci.when.production)' };
  if (SEVERITIES.indexOf(finding.severity) > SEVERITIES.indexOf(w.severity))
    return {
      action: 'alert',
      reason: `severity ${finding.severity} is below ${w.severity} (ci.when.severity)`,
    };
  if (w.loaded === 'loaded' && finding.loaded !== true)
    return {
      action: 'alert',
      reason: `the module is not known to be loaded (${finding.loaded}) (ci.when.loaded)`,
    };
  if (w.loaded === 'not-unloaded' && finding.loaded === false)
    return { action: 'alert', reason: 'the module is never loaded (ci.when.loaded)' };
  return {
    action: 'trigger',
    reason: `${finding.severity}, fix ${finding.fixedVersion}, loaded ${finding.loaded}`,
  };
}
