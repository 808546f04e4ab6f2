import { readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseDocument } from 'yaml';
import {
  computeReleases,
  formatDeployPlan,
  listDeploys,
  listReleases,
  newDeployRecord,
  planDeploy,
  prepareReleases,
  putDeployRecord,
  recordRelease,
  type DeployPlan,
  type DeployRecord,
  type ReleaseStoreOptions,
} from '../delivery/index.ts';
import type { NetworkAllocation, Progress } from '../orchestrator/index.ts';
import { slotsOf } from '../orchestrator/index.ts';
import type { Clock } from '../platform/clock.ts';
import { RampartError, isRampartError } from '../platform/errors.ts';
import { envNameProblem } from '../platform/names.ts';
import { parseStack, type ResolvedService, type ResolvedStack } from '../stack/index.ts';
import type { ControlPlane } from './control-plane.ts';

export interface DeliveryOptions {
  controlPlane: ControlPlane;
  releases: ReleaseStoreOptions;
  clock: Clock;
  /** Databases' data, `<dataDir>/<env>/<db>`. @default `<state>/data` beside `releases.dir` */
  dataDir?: string;
}

export interface DeployRequest {
  file: string;
  environment: string;
  /** Only these services (names or `<ns>/<name>`); all when empty. */
  services?: string[];
  dryRun?: boolean;
  /** An overlay of the stack file to apply instead of the environment's own (e.g. `test`). */
  overlay?: string;
}

export interface Actor {
  name: string;
  via: string;
}

const keyOf = (s: { namespace: string; name: string }): string => `${s.namespace}/${s.name}`;

/** How `env create` made an environment (document kind `delivery.environment`, key `created`). */
interface CreatedEnvironment {
  from?: string;
  overlay?: string;
  portOffset?: number;
}
const ENVIRONMENT_KIND = 'delivery.environment';

/**
 * Delivery on top of the control plane: releases, deploy plans, rolling deploys (the controller
 * rolls), rollback, history and audit, and environments made from another one.
 */
export class DeliveryService {
  constructor(private readonly opts: DeliveryOptions) {}

  private get store() {
    return this.opts.controlPlane.store;
  }

  /** The stack file resolved for `environment`, its overlay optionally taken from another environment. */
  async loadStack(file: string, environment: string, overlay?: string): Promise<ResolvedStack> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new RampartError(
        'RAMPART_E_STACK_NOT_FOUND',
        `stack file not found: ${file}`,
        { file },
        { cause: error },
      );
    }
    if (overlay && overlay !== environment) {
      const doc = parseDocument(text, { merge: true });
      const envs = (doc.toJS() as { environments?: Record<string, unknown> }).environments ?? {};
      if (!(overlay in envs))
        throw new RampartError(
          'RAMPART_E_BAD_REQUEST',
          `the stack file has no environments.${overlay} overlay`,
          {
            field: 'overlay',
          },
        );
      doc.set('environments', doc.createNode({ ...envs, [environment]: envs[overlay] }));
      text = doc.toString({ lineWidth: 0 });
    }
    return parseStack({ text, file, environment });
  }

  /**
   * The stack for an environment: one made by `env create` keeps the overlay and published-port
   * offset it was created with for every later deploy.
   */
  private async stackFor(
    file: string,
    environment: string,
    created?: CreatedEnvironment,
  ): Promise<ResolvedStack> {
    const options =
      created ??
      ((await this.store.getDocument(ENVIRONMENT_KIND, environment, 'created'))?.value as
        CreatedEnvironment | undefined);
    const loaded = await this.loadStack(file, environment, options?.overlay);
    if (!options) return loaded;
    const offset = options.portOffset;
    return {
      ...loaded,
      services: loaded.services.map((s) => ({
        ...s,
        publish: offset === undefined ? [] : s.publish.map((p) => ({ ...p, hostPort: p.hostPort + offset })),
      })),
    };
  }

  /** Pure over what is stored and on disk: what a deploy would change (nothing is written). */
  async plan(
    req: DeployRequest,
  ): Promise<{ plan: DeployPlan; target: ResolvedStack; selected: Set<string> }> {
    const raw = req.overlay
      ? await this.loadStack(req.file, req.environment, req.overlay)
      : await this.stackFor(req.file, req.environment);
    const deployment = await this.store.getDeployment(req.environment);
    const previous = deployment?.spec as ResolvedStack | undefined;
    const allocation = deployment?.network as NetworkAllocation | undefined;
    for (const name of req.services ?? []) {
      if (!raw.services.some((s) => s.name === name || keyOf(s) === name))
        throw new RampartError('RAMPART_E_NOT_FOUND', `no service ${name} in ${raw.file}`, {
          field: 'services',
        });
    }
    const releases = await computeReleases(raw);
    const picked = (s: ResolvedService): boolean =>
      !req.services?.length || req.services.includes(s.name) || req.services.includes(keyOf(s));
    const selected = new Set<string>();
    const services = raw.services.map((s) => {
      const before = previous?.services.find((p) => keyOf(p) === keyOf(s));
      if (!picked(s) && before) return before;
      selected.add(keyOf(s));
      const r = releases.get(keyOf(s))!;
      return { ...s, release: { id: r.id, source: s.workdir, dir: '' } };
    });
    const target: ResolvedStack = { ...raw, services };
    const slots = Object.fromEntries(
      (previous?.services ?? []).map((s) => [
        keyOf(s),
        allocation ? slotsOf(allocation, keyOf(s), s.replicas) : [],
      ]),
    );
    const plan = planDeploy({ previous, next: target, slots, selected: req.services });
    return { plan, target, selected };
  }

  /** Plan, print, then apply: releases made, then the controller's rolling update. Audited. */
  async deploy(
    req: DeployRequest,
    progress: Progress,
    actor: Actor,
  ): Promise<{ plan: DeployPlan; record: DeployRecord }> {
    const { clock } = this.opts;
    const { plan, target, selected } = await this.plan(req);
    for (const line of formatDeployPlan(plan)) progress(line);
    const changed = plan.services.filter((c) => c.change !== 'unchanged');
    const record = newDeployRecord({
      environment: req.environment,
      time: clock.now(),
      actor: actor.name,
      via: actor.via,
      kind: 'deploy',
      services: changed.map((c) => ({
        service: c.service,
        from: c.release.from,
        to: c.release.to,
        change: c.change,
      })),
    });
    if (req.dryRun || plan.noop) {
      const done = {
        ...record,
        outcome: req.dryRun ? 'dry-run' : 'no-op',
        // A no-op names what it found up to date, so each service's history shows it.
        services: plan.services.map((c) => ({
          service: c.service,
          from: c.release.from,
          to: c.release.to,
          change: c.change,
        })),
        finishedAt: clock.now(),
      } as DeployRecord;
      if (!req.dryRun) await putDeployRecord(this.store, done, clock.now());
      return { plan, record: done };
    }
    await putDeployRecord(this.store, record, clock.now());
    const finish = async (outcome: DeployRecord['outcome'], message: string): Promise<DeployRecord> => {
      const done = { ...record, outcome, message, finishedAt: clock.now() };
      await putDeployRecord(this.store, done, clock.now());
      return done;
    };
    try {
      progress('applying:');
      const stack = await prepareReleases(target, this.opts.releases, (s) => selected.has(keyOf(s)));
      for (const s of stack.services) {
        if (!selected.has(keyOf(s)) || !s.release) continue;
        await recordRelease(
          this.store,
          req.environment,
          { service: keyOf(s), id: s.release.id, spec: s, createdAt: clock.now() },
          clock.now(),
        );
      }
      await this.opts.controlPlane.up(
        { file: req.file, environment: req.environment, clientEnv: {}, stack },
        progress,
      );
      return { plan, record: await finish('succeeded', `${changed.length} services updated`) };
    } catch (error) {
      const rolledBack = isRampartError(error) && error.code === 'RAMPART_E_ROLLED_BACK';
      await finish(rolledBack ? 'rolled-back' : 'failed', (error as Error).message);
      throw error;
    }
  }

  /** Puts a service back on an earlier release (the one before the running one unless `to`). */
  async rollback(
    req: { environment: string; service: string; to?: string },
    progress: Progress,
    actor: Actor,
  ): Promise<DeployRecord> {
    const { clock } = this.opts;
    const deployment = await this.store.getDeployment(req.environment);
    if (!deployment)
      throw new RampartError('RAMPART_E_NO_STACK', `nothing runs in environment ${req.environment}`);
    const stack = deployment.spec as ResolvedStack;
    const current = stack.services.find((s) => s.name === req.service || keyOf(s) === req.service);
    if (!current)
      throw new RampartError(
        'RAMPART_E_NOT_FOUND',
        `no service ${req.service} in environment ${req.environment}`,
      );
    const releases = await listReleases(this.store, req.environment, keyOf(current));
    let target = req.to ? releases.find((r) => r.id === req.to || r.id.startsWith(req.to!)) : undefined;
    if (!req.to) {
      // The release that ran before the current one: the newest successful deploy to another release.
      const deploys = await listDeploys(this.store, req.environment, keyOf(current));
      const ids = deploys
        .filter((d) => d.outcome === 'succeeded')
        .flatMap((d) => d.services.filter((s) => s.service === keyOf(current)).map((s) => s.to))
        .filter((id): id is string => !!id && id !== current.release?.id);
      target =
        releases.find((r) => r.id === ids[0]) ??
        [...releases].reverse().find((r) => r.id !== current.release?.id);
    }
    if (!target || !existsSync(target.spec.release?.dir ?? '/nonexistent'))
      throw new RampartError(
        'RAMPART_E_NOT_FOUND',
        req.to
          ? `no release ${req.to} of ${keyOf(current)} in environment ${req.environment}`
          : `${keyOf(current)} has no earlier release`,
        { fix: `see \`rampart history ${req.service}\`` },
      );
    const spec = {
      ...target.spec,
      replicas: current.replicas,
      ...(current.deploy && { deploy: current.deploy }),
    };
    const next: ResolvedStack = {
      ...stack,
      services: stack.services.map((s) => (keyOf(s) === keyOf(current) ? spec : s)),
    };
    const record = newDeployRecord({
      environment: req.environment,
      time: clock.now(),
      actor: actor.name,
      via: actor.via,
      kind: 'rollback',
      services: [{ service: keyOf(current), from: current.release?.id, to: target.id, change: 'updated' }],
    });
    await putDeployRecord(this.store, record, clock.now());
    progress(`rolling ${keyOf(current)} back: release ${current.release?.id ?? '?'} → ${target.id}`);
    try {
      await this.opts.controlPlane.up(
        { file: deployment.stackFile, environment: req.environment, clientEnv: {}, stack: next },
        progress,
      );
    } catch (error) {
      const rolledBack = isRampartError(error) && error.code === 'RAMPART_E_ROLLED_BACK';
      await putDeployRecord(
        this.store,
        {
          ...record,
          outcome: rolledBack ? 'rolled-back' : 'failed',
          message: (error as Error).message,
          finishedAt: clock.now(),
        },
        clock.now(),
      );
      throw error;
    }
    const done: DeployRecord = {
      ...record,
      outcome: 'succeeded',
      message: `now on ${target.id}`,
      finishedAt: clock.now(),
    };
    await putDeployRecord(this.store, done, clock.now());
    return done;
  }

  history(req: { environment: string; service?: string }): Promise<DeployRecord[]> {
    return listDeploys(this.store, req.environment, req.service);
  }

  /**
   * A new environment running the same stack as `from` (its own bridges, addresses, namespaces and
   * database, seeded by the stack itself, never copied), with `from`'s firewall policies in protect mode.
   */
  async createEnvironment(
    req: {
      name: string;
      from?: string;
      file?: string;
      overlay?: string;
      /** Host ports are global: published ports move by this much; without it the copy publishes none. */
      portOffset?: number;
    },
    progress: Progress,
    actor: Actor,
  ): Promise<DeployRecord> {
    const { clock } = this.opts;
    const cp = this.opts.controlPlane;
    const problem = envNameProblem(req.name);
    if (problem)
      throw new RampartError('RAMPART_E_BAD_REQUEST', `environment name ${req.name}: ${problem}`, {
        field: 'name',
      });
    if (await this.store.getDeployment(req.name))
      throw new RampartError('RAMPART_E_CONFLICT', `environment ${req.name} exists`, {
        fix: `rampart env destroy ${req.name} first, or pick another name`,
      });
    const source = req.from ? await this.store.getDeployment(req.from) : undefined;
    if (req.from && !source)
      throw new RampartError('RAMPART_E_NO_STACK', `nothing runs in environment ${req.from}`);
    const file = req.file ?? source?.stackFile;
    if (!file)
      throw new RampartError('RAMPART_E_BAD_REQUEST', 'env create needs --from <env> or a stack file', {
        field: 'file',
      });
    const options: CreatedEnvironment = {
      from: req.from,
      overlay: req.overlay,
      portOffset: req.portOffset,
    };
    const raw = await this.stackFor(file, req.name, options);
    if (req.portOffset === undefined && raw.services.some((s) => s.publish.length > 0))
      progress('published ports are not copied (host ports are global; pass a port offset to publish them)');
    await this.store.putDocument(
      { kind: ENVIRONMENT_KIND, environment: req.name, key: 'created', value: options },
      clock.now(),
    );
    // A copy of `from` runs the code `from` runs (its releases), not what the folder holds now.
    const running = (source?.spec as ResolvedStack | undefined)?.services ?? [];
    const fromSource = (s: ResolvedService) =>
      running.find((r) => r.name === s.name && r.release && existsSync(r.release.dir));
    const prepared = await prepareReleases(raw, this.opts.releases, (s) => !fromSource(s));
    const stack: ResolvedStack = {
      ...prepared,
      services: prepared.services.map((s) => {
        const r = fromSource(s);
        return r ? { ...s, workdir: r.workdir, release: r.release } : s;
      }),
    };
    const record = newDeployRecord({
      environment: req.name,
      time: clock.now(),
      actor: actor.name,
      via: actor.via,
      kind: 'env-create',
      services: stack.services.map((s) => ({ service: keyOf(s), to: s.release?.id, change: 'added' })),
    });
    await putDeployRecord(this.store, record, clock.now());
    progress(
      `environment ${req.name}: ${stack.name} from ${file}${req.from ? ` (as ${req.from} runs it)` : ''}`,
    );
    try {
      await cp.up({ file, environment: req.name, clientEnv: {}, stack }, progress);
      for (const s of stack.services) {
        await recordRelease(
          this.store,
          req.name,
          { service: keyOf(s), id: s.release!.id, spec: s, createdAt: clock.now() },
          clock.now(),
        );
      }
      if (req.from) await this.inheritPolicies(req.from, req.name, progress);
    } catch (error) {
      await putDeployRecord(
        this.store,
        { ...record, outcome: 'failed', message: (error as Error).message, finishedAt: clock.now() },
        clock.now(),
      );
      throw error;
    }
    const done: DeployRecord = {
      ...record,
      outcome: 'succeeded',
      message: 'environment created',
      finishedAt: clock.now(),
    };
    await putDeployRecord(this.store, done, clock.now());
    return done;
  }

  /** The source's API policies (namespaces named after it renamed), then protect mode. */
  private async inheritPolicies(from: string, to: string, progress: Progress): Promise<void> {
    const cp = this.opts.controlPlane;
    const policies = (await cp.firewall(from).listPolicies()).filter((p) => p.source.kind === 'api');
    const texts: string[] = [];
    for (const p of policies) {
      const yaml = await cp.firewall(from).getPolicyYaml(p.policy.metadata.namespace, p.policy.metadata.name);
      texts.push(yaml.replaceAll(`namespace: ${from}\n`, `namespace: ${to}\n`));
    }
    await cp.withFirewall(to, async (f) => {
      if (texts.length) await f.applyPolicyText(texts.join('\n---\n'), `inherited from ${from}`);
      await f.setMode('protect', []);
    });
    progress(`firewall: ${policies.length} policies inherited from ${from}, protect mode`);
  }

  /**
   * `down` plus everything else the environment made: its delivery records and releases' history,
   * its secrets (database passwords included) and its databases' data directories.
   */
  async destroyEnvironment(req: { name: string }, progress: Progress): Promise<void> {
    const problem = envNameProblem(req.name);
    if (problem)
      throw new RampartError('RAMPART_E_BAD_REQUEST', `environment name ${req.name}: ${problem}`, {
        field: 'name',
      });
    await this.opts.controlPlane.down({ environment: req.name }, progress);
    await this.store.deleteDocuments(req.name);
    await this.store.deleteSecrets(req.name);
    const dataDir = this.opts.dataDir ?? join(dirname(this.opts.releases.dir), 'data');
    await rm(join(dataDir, req.name), { recursive: true, force: true });
    progress(`environment ${req.name}: removed`);
  }

  async listEnvironments(): Promise<
    { name: string; stack: string; file: string; services: number; createdAt: number }[]
  > {
    return (await this.store.listDeployments()).map((d) => {
      const s = d.spec as ResolvedStack;
      return {
        name: d.environment,
        stack: s.name,
        file: d.stackFile,
        services: s.services.length,
        createdAt: d.createdAt,
      };
    });
  }
}
