import type { Clock } from '../platform/clock.ts';
import type { ResolvedHealthCheck } from '../stack/index.ts';
import { probe, tally, type HealthTally } from './health.ts';
import type { WatchedProcess } from './process.ts';
import { backoffDelay, transition, type ReplicaEvent, type ReplicaState } from './replica-state.ts';

export interface SupervisorSnapshot {
  state: ReplicaState;
  healthy: boolean;
  pid: number | null;
  pidStartTime: number | null;
  restarts: number;
  lastExit: { code: number | null; signal: string | null } | null;
  healthDetail: string;
}

export interface SupervisorOptions {
  /** e.g. `prod/web-0`, for events. */
  id: string;
  clock: Clock;
  /** Starts the process (network already prepared). */
  launch: () => Promise<WatchedProcess>;
  /** Address the host probes, on the replica's first network. */
  address: string;
  health?: ResolvedHealthCheck;
  stopTimeoutMs: number;
  /** Called after every state or health change, with the event that caused it. */
  onChange: (snapshot: SupervisorSnapshot, cause: { kind: 'transition' | 'health'; message: string }) => void;
  /** @default backoffDelay */
  backoff?: (consecutiveFailures: number) => number;
  /** A replica that ran this long resets its crash counter. @default 10000 */
  stableAfterMs?: number;
}

/**
 * Keeps one replica alive: starts it, restarts it with exponential backoff when it exits, probes
 * its health, and stops it gracefully (SIGTERM to its process group, SIGKILL after the timeout).
 * Every change goes through the pure `transition` and is reported through `onChange`.
 */
export class ReplicaSupervisor {
  private state: ReplicaState = 'pending';
  private process: WatchedProcess | undefined;
  private tallyState: HealthTally = { healthy: false, successes: 0, failures: 0 };
  private restarts = 0;
  private consecutiveFailures = 0;
  private startedAt = 0;
  private lastExit: SupervisorSnapshot['lastExit'] = null;
  private healthDetail = '';
  private healthTimer: NodeJS.Timeout | undefined;
  private everHealthy = false;
  private healthGeneration = 0;
  private retryAbort: AbortController | undefined;
  private stopped: Promise<void> | undefined;

  constructor(private readonly opts: SupervisorOptions) {}

  snapshot(): SupervisorSnapshot {
    return {
      state: this.state,
      healthy: this.tallyState.healthy,
      pid: this.process?.pid ?? null,
      pidStartTime: this.process?.startTime ?? null,
      restarts: this.restarts,
      lastExit: this.lastExit,
      healthDetail: this.healthDetail,
    };
  }

  get healthy(): boolean {
    return this.tallyState.healthy && this.state === 'running';
  }

  /** Start from scratch. */
  start(): void {
    this.apply({ type: 'start' }, 'starting');
    void this.launch();
  }

  /**
   * Take over a process found alive after a daemon restart: no restart, health assumed as
   * recorded until the next probe says otherwise.
   */
  adopt(process: WatchedProcess, recorded: { restarts: number; healthy: boolean }): void {
    this.restarts = recorded.restarts;
    this.state = 'starting';
    this.process = process;
    this.startedAt = this.opts.clock.now();
    this.tallyState = { healthy: recorded.healthy, successes: recorded.healthy ? 1 : 0, failures: 0 };
    this.apply({ type: 'spawned', pid: process.pid }, `adopted running process ${process.pid}`);
    this.watch(process);
  }

  /** Stop watching without touching the process (daemon shutdown: the replica keeps running). */
  detach(): void {
    this.stopHealth();
    this.retryAbort?.abort();
    this.process = undefined;
  }

  /** Graceful stop; resolves when the process is gone. Idempotent. */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopped = this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    this.stopHealth();
    this.retryAbort?.abort();
    const proc = this.process;
    if (this.state === 'stopped' || this.state === 'failed') return;
    if (!proc || this.state === 'backoff' || this.state === 'pending') {
      this.apply({ type: 'stop' }, 'stopped');
      return;
    }
    this.apply({ type: 'stop' }, `stopping: SIGTERM to process group ${proc.pid}`);
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), this.opts.stopTimeoutMs);
    await proc.exited;
    clearTimeout(timer);
  }

  private apply(event: ReplicaEvent, message: string): void {
    this.state = transition(this.state, event);
    if (this.state !== 'running' && this.tallyState.healthy) {
      this.tallyState = { healthy: false, successes: 0, failures: 0 };
    }
    this.opts.onChange(this.snapshot(), { kind: 'transition', message });
  }

  private async launch(): Promise<void> {
    let proc: WatchedProcess;
    try {
      proc = await this.opts.launch();
    } catch (error) {
      if (this.state !== 'starting') return;
      this.healthDetail = (error as Error).message;
      this.scheduleRestart(
        { type: 'spawnFailed', reason: (error as Error).message },
        `spawn failed: ${(error as Error).message}`,
      );
      return;
    }
    if (this.state !== 'starting') {
      // stop() arrived while we were spawning.
      proc.kill('SIGTERM');
      return;
    }
    this.process = proc;
    this.startedAt = this.opts.clock.now();
    this.tallyState = { healthy: !this.opts.health, successes: 0, failures: 0 };
    this.apply({ type: 'spawned', pid: proc.pid }, `started pid ${proc.pid}`);
    this.watch(proc);
  }

  private watch(proc: WatchedProcess): void {
    this.startHealth();
    void proc.exited.then((exit) => {
      if (this.process !== proc) return;
      this.process = undefined;
      this.lastExit = exit;
      this.stopHealth();
      const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code ?? 'unknown'}`;
      if (this.state === 'stopping') {
        this.apply({ type: 'exited', ...exit }, `stopped (${how})`);
        return;
      }
      if (this.state !== 'running' && this.state !== 'starting') return;
      const ranFor = this.opts.clock.now() - this.startedAt;
      if (ranFor >= (this.opts.stableAfterMs ?? 10_000)) this.consecutiveFailures = 0;
      this.scheduleRestart({ type: 'exited', ...exit }, `exited with ${how} after ${ranFor} ms`);
    });
  }

  private scheduleRestart(event: ReplicaEvent, message: string): void {
    this.consecutiveFailures += 1;
    const delay = (this.opts.backoff ?? backoffDelay)(this.consecutiveFailures);
    this.apply(event, `${message}; restarting in ${delay} ms`);
    const abort = new AbortController();
    this.retryAbort = abort;
    void this.opts.clock.sleep(delay, abort.signal).then(() => {
      if (abort.signal.aborted || this.state !== 'backoff') return;
      this.restarts += 1;
      this.apply({ type: 'retry' }, `restart #${this.restarts}`);
      void this.launch();
    });
  }

  private startHealth(): void {
    const check = this.opts.health;
    if (!check) return;
    this.stopHealth();
    const tick = async (): Promise<void> => {
      if (this.state !== 'running') return;
      const inStartPeriod = this.opts.clock.now() - this.startedAt < check.startPeriodMs;
      const result = await probe(check, this.opts.address);
      if (this.state !== 'running') return;
      if (!result.ok && inStartPeriod) return;
      const before = this.tallyState.healthy;
      this.tallyState = tally(this.tallyState, result.ok, check);
      this.healthDetail = result.detail;
      if (before !== this.tallyState.healthy) {
        this.opts.onChange(this.snapshot(), {
          kind: 'health',
          message: this.tallyState.healthy ? `healthy (${result.detail})` : `unhealthy (${result.detail})`,
        });
      }
    };
    // Probe at once and then quickly until the first success, so a fresh replica joins its service
    // (and unblocks its dependents) as soon as it answers; then at the configured interval.
    const generation = ++this.healthGeneration;
    const loop = async (): Promise<void> => {
      await tick();
      if (this.state !== 'running' || generation !== this.healthGeneration) return;
      const next =
        this.tallyState.healthy || this.everHealthy ? check.intervalMs : Math.min(100, check.intervalMs);
      if (this.tallyState.healthy) this.everHealthy = true;
      this.healthTimer = setTimeout(() => void loop(), next);
    };
    this.everHealthy = false;
    void loop();
  }

  private stopHealth(): void {
    this.healthGeneration += 1;
    if (this.healthTimer) clearTimeout(this.healthTimer);
    this.healthTimer = undefined;
  }
}
