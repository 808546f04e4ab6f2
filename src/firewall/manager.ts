import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../platform/clock.ts';
import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import type { ResolvedStack } from '../stack/index.ts';
import type { Store } from '../store/index.ts';
import {
  AnomalyDetector,
  DeniedTracker,
  MemoryAlertLog,
  dbNetworkServices,
  policyAlerts,
  type Alert,
  type AlertEvent,
  type AlertFilter,
} from './alerts.ts';
import { nftablesBackend, type FirewallBackend } from './backend.ts';
import { FirewallCompiler } from './compile.ts';
import {
  assertPolicyChange,
  complianceReport,
  dataDeclarations,
  declaredFlows,
  type ComplianceInput,
  type ComplianceReport,
} from './compliance.ts';
import { conntrackSource, type ConntrackSource } from './conntrack.ts';
import { learningCoverage, ruleUsage, type RuleUsage, type ServiceCoverage } from './coverage.ts';
import { diffPolicies, renderPolicyDiff } from './diff.ts';
import { createEvaluator, policyId } from './evaluate.ts';
import { addressBook } from './flows.ts';
import { Learner, compareEdges, edgeKey, mergeEdge, type Edge, type FlowLog } from './learn.ts';
import { serviceKey, withMode, type FirewallModes } from './modes.ts';
import { parsePolicies, renderPoliciesYaml } from './policy.ts';
import { proposePolicies, renderProposalYaml } from './propose.ts';
import { replay, type ReplayReport } from './replay.ts';
import type { FirewallMode, Flow, NetworkPolicy, Verdict, World } from './types.ts';

/** Where a policy came from: the stack's `policies/` folder or `rampart policy apply`. */
export type PolicySource = { kind: 'file'; file: string } | { kind: 'api' };

export interface StoredPolicy {
  policy: NetworkPolicy;
  source: PolicySource;
  appliedAt: number;
}

const POLICY = 'firewall.policy';
const MODES = 'firewall.modes';
const EDGE = 'firewall.edge';

/** Learned edges persist as store documents, one per edge. */
class StoreFlowLog implements FlowLog {
  private cache: Map<string, Edge> | undefined;
  constructor(
    private readonly store: Store,
    private readonly environment: string,
    private readonly clock: Clock,
  ) {}

  private async load(): Promise<Map<string, Edge>> {
    if (!this.cache) {
      this.cache = new Map(
        (await this.store.listDocuments(EDGE, this.environment)).map((d) => [d.key, d.value as Edge]),
      );
    }
    return this.cache;
  }

  async record(deltas: readonly Edge[]): Promise<{ added: Edge[] }> {
    const cache = await this.load();
    const added: Edge[] = [];
    for (const d of deltas) {
      const key = edgeKey(d);
      const prev = cache.get(key);
      const next = prev ? mergeEdge(prev, d) : d;
      if (!prev) added.push(d);
      cache.set(key, next);
      await this.store.putDocument(
        { kind: EDGE, environment: this.environment, key, value: next },
        this.clock.now(),
      );
    }
    return { added };
  }

  async edges(): Promise<Edge[]> {
    return [...(await this.load()).values()].sort(compareEdges);
  }

  async clear(): Promise<void> {
    this.cache = new Map();
    await this.store.deleteDocuments(this.environment, EDGE);
  }
}

export interface FirewallManagerOptions {
  environment: string;
  exec: Exec;
  /** Where the compiled table is enforced. @default nftablesBackend({ exec }) */
  backend?: FirewallBackend;
  store: Store;
  clock: Clock;
  /** Events for the daemon log and `rampart up` output. */
  emit: (kind: string, message: string, data?: unknown) => void;
  /** Run the conntrack flow source (off in unit tests). @default true */
  captureFlows?: boolean;
  /** How often the `denied` set is read for alerts. @default 250 */
  deniedPollMs?: number;
}

/** What the environment looks like to the firewall: refreshed on every `up`. */
export interface FirewallContext {
  stack: ResolvedStack;
  world: World;
  block: string;
  dbSubnet: string;
  hostIps: readonly string[];
  subnets: readonly string[];
}

/**
 * One environment's firewall: its NetworkPolicies (stack files and API), modes, the compiled nft
 * table, the flow learner, alerts and the data-protection proof. Every change that could let
 * forbidden data classes meet is checked before anything is applied.
 */
export class FirewallManager {
  private ctx: FirewallContext | undefined;
  private policies = new Map<string, StoredPolicy>();
  private modes: FirewallModes = { global: 'learn', perService: {} };
  private loaded = false;
  private lastText: string | undefined;
  private readonly alertLog = new MemoryAlertLog();
  private readonly flowLog: StoreFlowLog;
  private learner: Learner | undefined;
  private source: ConntrackSource | undefined;
  private denied: DeniedTracker | undefined;
  private anomalies: AnomalyDetector | undefined;
  private deniedTimer: NodeJS.Timeout | undefined;
  private applying: Promise<unknown> = Promise.resolve();
  private readonly backend: FirewallBackend;
  /** Keeps each policy's compiled part: a one-rule change recompiles one policy. */
  private readonly compiler = new FirewallCompiler();

  constructor(private readonly opts: FirewallManagerOptions) {
    this.backend = opts.backend ?? nftablesBackend({ exec: opts.exec });
    this.flowLog = new StoreFlowLog(opts.store, opts.environment, opts.clock);
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    for (const d of await this.opts.store.listDocuments(POLICY, this.opts.environment)) {
      this.policies.set(d.key, d.value as StoredPolicy);
    }
    const modes = await this.opts.store.getDocument(MODES, this.opts.environment, 'modes');
    if (modes) this.modes = modes.value as FirewallModes;
    this.loaded = true;
  }

  /** Policies in the stack's `policies/` folder (`*.yaml`, `*.yml`), parsed strictly. */
  static async readPolicyFolder(stack: ResolvedStack): Promise<{ policy: NetworkPolicy; file: string }[]> {
    const dir = join(stack.dir, 'policies');
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
    } catch {
      return [];
    }
    const out: { policy: NetworkPolicy; file: string }[] = [];
    for (const name of names) {
      const file = join(dir, name);
      for (const policy of parsePolicies({
        text: await readFile(file, 'utf8'),
        file,
        namespace: stack.environment,
      })) {
        out.push({ policy, file });
      }
    }
    return out;
  }

  private complianceInput(ctx: FirewallContext, policies: Iterable<NetworkPolicy>): ComplianceInput {
    return {
      world: ctx.world,
      policies: [...policies],
      data: dataDeclarations(ctx.stack),
      rules: ctx.stack.dataRules,
      hostIps: ctx.hostIps,
      subnets: ctx.subnets,
    };
  }

  /**
   * Before a deploy changes anything: would the new stack (its data declarations, its declared
   * flows, its policy files) let forbidden classes meet? Throws RAMPART_E_DATA_RULE with the
   * evidence path.
   *
   * Two views are checked. The stack's intent (the flows it declares with `dependsOn`, and the
   * connections its policies decide): a first deploy whose intent breaks a data rule is refused,
   * and so is any later deploy that adds a violation to it. And what is actually let through
   * (learn mode lets everything through that no policy isolates): a later deploy may not add a
   * violation to that either; a first deploy only reports what is open, as nothing is enforced
   * yet and proposing policies from learned traffic is how it gets closed.
   */
  async checkDeploy(
    next: FirewallContext,
    filePolicies: readonly { policy: NetworkPolicy; file: string }[],
  ): Promise<void> {
    await this.load();
    const policies = [...this.withFilePolicies(filePolicies).values()];
    const after = this.complianceInput(next, policies);
    const refusal = {
      what: `deploy of ${next.stack.name} to ${this.opts.environment}`,
      fix: 'change the dependsOn, data (reads/emits) or policies/ of the services on the path, so the classes never meet',
    };
    if (!this.ctx) {
      const intended = this.intentInput(next, policies);
      assertPolicyChange({ ...intended, rules: [] }, intended, refusal);
      const open = complianceReport(after).violations;
      if (open.length > 0) {
        this.opts.emit(
          'compliance.open',
          `data rules not enforced yet (${open.length} open path${open.length > 1 ? 's' : ''}): propose and apply policies, then protect`,
          open,
        );
      }
      return;
    }
    this.assertChange(this.ctx, this.current(), next, policies, refusal);
  }

  /** The stack's intent: declared flows and the connections policies decide (ComplianceInput.declared). */
  private intentInput(ctx: FirewallContext, policies: Iterable<NetworkPolicy>): ComplianceInput {
    return { ...this.complianceInput(ctx, policies), declared: declaredFlows(ctx.stack) };
  }

  /**
   * Refuses a change that adds a violation to the stack's intent (a policy that explicitly allows
   * the path, a declared flow) or to what is actually let through.
   */
  private assertChange(
    beforeCtx: FirewallContext,
    before: readonly NetworkPolicy[],
    afterCtx: FirewallContext,
    after: readonly NetworkPolicy[],
    opts?: { what?: string; fix?: string },
  ): void {
    assertPolicyChange(this.intentInput(beforeCtx, before), this.intentInput(afterCtx, after), opts);
    assertPolicyChange(this.complianceInput(beforeCtx, before), this.complianceInput(afterCtx, after), opts);
  }

  private withFilePolicies(
    files: readonly { policy: NetworkPolicy; file: string }[],
  ): Map<string, NetworkPolicy> {
    const out = new Map<string, NetworkPolicy>();
    for (const [k, p] of this.policies) if (p.source.kind === 'api') out.set(k, p.policy);
    for (const f of files) out.set(policyId(f.policy), f.policy);
    return out;
  }

  /** A deploy happened (or the daemon adopted the environment): new world, new file policies. */
  async update(
    ctx: FirewallContext,
    filePolicies?: readonly { policy: NetworkPolicy; file: string }[],
  ): Promise<void> {
    await this.load();
    this.ctx = ctx;
    if (filePolicies) {
      const now = this.opts.clock.now();
      for (const [k, p] of [...this.policies]) {
        if (p.source.kind === 'file') {
          this.policies.delete(k);
          await this.opts.store.deleteDocument(POLICY, this.opts.environment, k);
        }
      }
      for (const f of filePolicies) await this.putPolicy(f.policy, { kind: 'file', file: f.file }, now);
    }
    await this.enforce();
    this.startLearning(ctx);
  }

  private async putPolicy(policy: NetworkPolicy, source: PolicySource, now: number): Promise<void> {
    const key = policyId(policy);
    const stored: StoredPolicy = { policy, source, appliedAt: now };
    this.policies.set(key, stored);
    await this.opts.store.putDocument(
      { kind: POLICY, environment: this.opts.environment, key, value: stored },
      now,
    );
  }

  private cachedEvaluator: ((flow: Flow) => Verdict) | undefined;

  /** The reference evaluator over the policies in force; rebuilt when policies or the world change. */
  private evaluator(): (flow: Flow) => Verdict {
    const ctx = this.requireContext();
    this.cachedEvaluator ??= createEvaluator(ctx.world, this.current(), { hostIps: ctx.hostIps });
    return this.cachedEvaluator;
  }

  private current(): NetworkPolicy[] {
    return [...this.policies.values()].map((p) => p.policy);
  }

  /** Compiles and loads the table; serialised, so concurrent changes never interleave. */
  private enforce(): Promise<void> {
    const run = this.applying.then(async () => {
      const ctx = this.ctx;
      if (!ctx) return;
      this.cachedEvaluator = undefined;
      // Incremental: a one-rule change recompiles one policy and yields the element-level delta
      // from the compiler's previous output, which is what the kernel holds when it is lastText.
      const { text, delta } = this.compiler.update({
        env: this.opts.environment,
        world: ctx.world,
        policies: this.current(),
        modes: this.modes,
      });
      if (text === this.lastText) return;
      const previous = this.lastText;
      await this.backend.apply(this.opts.environment, text, {
        previous,
        ...(delta && previous !== undefined && { delta }),
      });
      this.lastText = text;
    });
    this.applying = run.catch(() => undefined);
    return run;
  }

  // ---- policies ---------------------------------------------------------------------------------

  /** `rampart policy apply -f`: parse, prove the data rules still hold, store, enforce. */
  async applyPolicyText(text: string, file: string): Promise<{ applied: string[]; unchanged: string[] }> {
    await this.load();
    const ctx = this.requireContext();
    const incoming = parsePolicies({ text, file, namespace: this.opts.environment });
    const next = new Map([...this.policies].map(([k, p]) => [k, p.policy]));
    for (const p of incoming) next.set(policyId(p), p);
    this.assertChange(ctx, this.current(), ctx, [...next.values()]);
    const applied: string[] = [];
    const unchanged: string[] = [];
    const now = this.opts.clock.now();
    for (const p of incoming) {
      const key = policyId(p);
      if (JSON.stringify(this.policies.get(key)?.policy) === JSON.stringify(p)) unchanged.push(key);
      else {
        await this.putPolicy(p, { kind: 'api' }, now);
        applied.push(key);
      }
    }
    await this.enforce();
    return { applied, unchanged };
  }

  async deletePolicy(namespace: string, name: string): Promise<void> {
    await this.load();
    const key = `${namespace}/${name}`;
    if (!this.policies.has(key))
      throw new RampartError(
        'RAMPART_E_NOT_FOUND',
        `no NetworkPolicy ${key} in environment ${this.opts.environment}`,
      );
    if (this.ctx) {
      const next = new Map([...this.policies].map(([k, p]) => [k, p.policy]));
      next.delete(key);
      this.assertChange(this.ctx, this.current(), this.ctx, [...next.values()]);
    }
    this.policies.delete(key);
    await this.opts.store.deleteDocument(POLICY, this.opts.environment, key);
    await this.enforce();
  }

  async listPolicies(): Promise<StoredPolicy[]> {
    await this.load();
    return [...this.policies.values()].sort((a, b) => policyId(a.policy).localeCompare(policyId(b.policy)));
  }

  async getPolicyYaml(namespace: string, name: string): Promise<string> {
    await this.load();
    const p = this.policies.get(`${namespace}/${name}`);
    if (!p)
      throw new RampartError(
        'RAMPART_E_NOT_FOUND',
        `no NetworkPolicy ${namespace}/${name} in environment ${this.opts.environment}`,
      );
    return renderPoliciesYaml([p.policy]);
  }

  // ---- modes ------------------------------------------------------------------------------------

  async setMode(mode: FirewallMode, services: readonly string[]): Promise<FirewallModes> {
    await this.load();
    const ctx = this.requireContext();
    const keys = services.map((s) => {
      const [ns, svc] = s.includes('/') ? (s.split('/') as [string, string]) : [undefined, s];
      const found = ctx.world.pods.filter(
        (p) => p.service === svc && (ns === undefined || p.namespace === ns),
      );
      const namespaces = [...new Set(found.map((p) => p.namespace))];
      if (namespaces.length === 0)
        throw new RampartError(
          'RAMPART_E_NOT_FOUND',
          `no service ${s} in environment ${this.opts.environment}`,
        );
      if (namespaces.length > 1) {
        throw new RampartError(
          'RAMPART_E_BAD_REQUEST',
          `service ${s} exists in namespaces ${namespaces.join(', ')}`,
          { fix: 'name it <namespace>/<service>' },
        );
      }
      return serviceKey(namespaces[0]!, svc);
    });
    this.modes = withMode(this.modes, mode, keys);
    this.refreshAnomalies(ctx);
    await this.opts.store.putDocument(
      { kind: MODES, environment: this.opts.environment, key: 'modes', value: this.modes },
      this.opts.clock.now(),
    );
    await this.enforce();
    this.opts.emit(
      'firewall.mode',
      `firewall ${mode}${keys.length ? ` for ${keys.join(', ')}` : ' (global)'}`,
      this.modes,
    );
    return this.modes;
  }

  getModes(): FirewallModes {
    return this.modes;
  }

  // ---- learning, proposals, replay --------------------------------------------------------------

  private startLearning(ctx: FirewallContext): void {
    const modeOf = (namespace: string, service: string) =>
      this.modes.perService[serviceKey(namespace, service)] ?? this.modes.global;
    const book = addressBook(ctx.world, { hostIps: ctx.hostIps });
    this.denied = new DeniedTracker({ book: () => book, check: (f) => this.evaluator()(f) });
    if (this.learner) {
      this.learner.setWorld(ctx.world, ctx.hostIps);
    } else {
      this.learner = new Learner({
        world: ctx.world,
        hostIps: ctx.hostIps,
        log: this.flowLog,
        onBatch: ({ flows }) => {
          const occurrences = policyAlerts(flows, { check: this.evaluator(), modeOf });
          if (this.anomalies) occurrences.push(...this.anomalies.observe(flows, modeOf));
          if (occurrences.length) void this.alertLog.record(occurrences);
        },
        onError: (e) => this.opts.emit('firewall.error', `flow log: ${(e as Error).message}`),
      });
      this.learner.start();
    }
    this.refreshAnomalies(ctx);
    if (this.opts.captureFlows !== false && !this.source) {
      this.source = conntrackSource({
        block: ctx.block,
        onFlows: (flows) => this.learner?.add(flows),
        onWarning: (message) => this.opts.emit('firewall.warning', message),
      });
      this.source
        .start()
        .catch((e: unknown) => this.opts.emit('firewall.error', `flow capture: ${(e as Error).message}`));
    }
    if (!this.deniedTimer) {
      this.deniedTimer = setInterval(() => void this.pollDenied(), this.opts.deniedPollMs ?? 250);
      this.deniedTimer.unref();
    }
  }

  /**
   * The baseline for anomalies is what was learned so far: rebuilt when a deploy changes the world
   * and when modes change (learning of a service ends when it leaves `learn`).
   */
  private refreshAnomalies(ctx: FirewallContext): void {
    const modeOf = (namespace: string, service: string) =>
      this.modes.perService[serviceKey(namespace, service)] ?? this.modes.global;
    const db = dbNetworkServices(ctx.world, ctx.dbSubnet);
    void this.learnedEdges().then((baseline) => {
      this.anomalies = new AnomalyDetector({
        baseline,
        learningEnded: (ns, svc) => modeOf(ns, svc) !== 'learn',
        block: ctx.block,
        isDbService: (ns, svc) => db.has(`${ns}/${svc}`),
      });
    });
  }

  /** Whether the previous poll ran with some service in monitor or protect. */
  private alerting = false;

  /**
   * Only monitor and protect write `@denied` (learn lets denied flows pass unrecorded), so it is
   * read only while some service is in one of them, and once more after the last one left.
   */
  private async pollDenied(): Promise<void> {
    if (!this.denied || !this.lastText) return;
    const alerting =
      this.modes.global !== 'learn' || Object.values(this.modes.perService).some((m) => m !== 'learn');
    const last = this.alerting;
    this.alerting = alerting;
    if (!alerting && !last) return;
    try {
      const entries = await this.backend.readDenied(this.opts.environment);
      const occurrences = this.denied.observe(entries, this.opts.clock.now());
      if (occurrences.length) await this.alertLog.record(occurrences);
    } catch {
      // The table may be between replacements; the next poll reads it.
    }
  }

  async learnedEdges(): Promise<Edge[]> {
    await this.learner?.flush();
    return this.flowLog.edges();
  }

  /** `rampart policy propose`: the minimal policies allowing exactly what was learned, as commented YAML. */
  async propose(): Promise<{ policies: NetworkPolicy[]; yaml: string }> {
    const ctx = this.requireContext();
    const edges = await this.learnedEdges();
    const policies = proposePolicies(ctx.world, edges);
    return { policies, yaml: renderProposalYaml(policies, edges) };
  }

  /** `rampart policy diff`: current policies against the proposal (or a given candidate). */
  async diff(candidate?: readonly NetworkPolicy[]): Promise<string> {
    await this.load();
    const next = candidate ?? (await this.propose()).policies;
    return renderPolicyDiff(diffPolicies(this.current(), next));
  }

  /** `rampart policy test -f`: replay the recorded flows against candidate policies. */
  async test(text: string, file: string): Promise<ReplayReport> {
    const ctx = this.requireContext();
    const candidate = parsePolicies({ text, file, namespace: this.opts.environment });
    return replay(await this.learnedEdges(), ctx.world, candidate, { hostIps: ctx.hostIps });
  }

  async coverage(windowMs?: number): Promise<ServiceCoverage[]> {
    const ctx = this.requireContext();
    return learningCoverage(ctx.world, await this.learnedEdges(), { now: this.opts.clock.now(), windowMs });
  }

  async rules(): Promise<RuleUsage[]> {
    const ctx = this.requireContext();
    return ruleUsage(ctx.world, this.current(), await this.learnedEdges(), { hostIps: ctx.hostIps });
  }

  // ---- alerts, compliance -----------------------------------------------------------------------

  alerts(filter?: AlertFilter): Promise<Alert[]> {
    return this.alertLog.list(filter);
  }

  subscribeAlerts(listener: (event: AlertEvent) => void): () => void {
    return this.alertLog.subscribe(listener);
  }

  async compliance(): Promise<ComplianceReport> {
    await this.load();
    return complianceReport(this.complianceInput(this.requireContext(), this.current()));
  }

  /** The services a pod's policy lets it reach, for policy-aware name discovery in protect mode. */
  reachableServices(namespace: string, service: string): Set<string> | undefined {
    const ctx = this.ctx;
    if (!ctx) return undefined;
    if ((this.modes.perService[serviceKey(namespace, service)] ?? this.modes.global) !== 'protect')
      return undefined;
    const check = this.evaluator();
    const src = ctx.world.pods.find((p) => p.namespace === namespace && p.service === service);
    if (!src) return undefined;
    const out = new Set<string>();
    for (const dst of ctx.world.pods) {
      if (dst.namespace === namespace && dst.service === service) continue;
      const ok = dst.ports.some((port) =>
        src.ips.some((s) =>
          dst.ips.some(
            (d) =>
              check({ srcIp: s, dstIp: d, protocol: port.protocol, dstPort: port.port, time: 0 }).allowed,
          ),
        ),
      );
      if (ok) out.add(serviceKey(dst.namespace, dst.service));
    }
    return out;
  }

  private requireContext(): FirewallContext {
    if (!this.ctx)
      throw new RampartError('RAMPART_E_NO_STACK', `nothing runs in environment ${this.opts.environment}`);
    return this.ctx;
  }

  /**
   * Benchmarks only (firewall on vs off, side by side): takes the table out of the kernel, so
   * everything passes unrecorded, until `reload`. Never exposed through the API.
   */
  async unload(): Promise<void> {
    await this.applying;
    await this.backend.remove(this.opts.environment);
    this.lastText = undefined;
  }

  /** Loads the table again after `unload`. */
  reload(): Promise<void> {
    return this.enforce();
  }

  /** Daemon shutdown: stop capture and timers; the table stays (replicas keep their protection). */
  async close(): Promise<void> {
    if (this.deniedTimer) clearInterval(this.deniedTimer);
    this.deniedTimer = undefined;
    this.backend.close?.();
    await this.source?.stop();
    this.source = undefined;
    await this.learner?.stop();
    this.learner = undefined;
  }

  /** `down`: everything goes, policies and learned edges stay in the store for the next `up`. */
  async destroy(): Promise<void> {
    await this.close();
    await this.backend.remove(this.opts.environment);
    this.lastText = undefined;
    this.ctx = undefined;
  }
}
