import type { NetworkFs } from '../network/index.ts';
import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import { nftTableName } from '../platform/names.ts';
import {
  applyFirewall,
  deleteFirewall,
  deltaTransaction,
  parseCompiledTable,
  readDenied,
  revisionOf,
  type DeniedEntry,
  type FirewallApplyStrategy,
} from './apply.ts';
import { PRESERVED_SETS, type FirewallDelta } from './compile.ts';
import type { SpawnInteractive } from '../platform/exec.ts';
import { NftSession } from './nft-session.ts';

/**
 * Where a compiled firewall (compile.ts) is enforced. The contract (backend.contract.ts) is run
 * against every driver: nftables in the kernel, and an in-memory one for tests and for callers
 * without root. FirewallManager talks only to this interface.
 */
export interface FirewallBackend {
  /**
   * Loads `text` (compileFirewall's output for `env`) atomically. With `previous` (the text loaded
   * last) a driver may send only the difference; it must still end up holding exactly `text`.
   * `delta` (FirewallCompiler.update) is that difference element by element, so a driver need
   * not diff the two texts.
   */
  apply(
    env: string,
    text: string,
    options?: FirewallBackendApplyOptions,
  ): Promise<{ strategy: FirewallApplyStrategy; revision: string }>;
  /** The revision (revisionOf) of the text the environment's table holds, or undefined: no table. */
  revision(env: string): Promise<string | undefined>;
  /** The denied attempts recorded since they appeared, with counters (`@denied`). */
  readDenied(env: string): Promise<DeniedEntry[]>;
  /** Removes the environment's table; removing what is not there is not an error. */
  remove(env: string): Promise<void>;
  /** Releases what the driver keeps running (the nftables driver's `nft -i` session). */
  close?(): void;
}

export interface FirewallBackendApplyOptions {
  previous?: string;
  delta?: FirewallDelta;
  strategy?: 'replace';
}

export interface NftablesBackendOptions {
  exec: Exec;
  /**
   * Where `readDenied` lists `@denied` and small delta transactions run: one long-lived
   * `nft -j -i` (started on first use) instead of one `nft` process each. `null`: through `exec`
   * every time.
   * @default realSpawnInteractive
   */
  interactive?: SpawnInteractive | null;
  fs?: NetworkFs;
  tmpDir?: string;
}

/** The kernel driver: `nft -f` transactions through the exec seam (apply.ts), listings of `@denied` in an `nft -i` session. */
export function nftablesBackend(opts: NftablesBackendOptions): FirewallBackend {
  const { exec } = opts;
  const session =
    opts.interactive === null
      ? undefined
      : new NftSession(opts.interactive ? { spawn: opts.interactive } : {});
  return {
    apply: (env, text, options = {}) =>
      applyFirewall(exec, env, text, {
        ...(options.previous !== undefined && { previous: options.previous }),
        ...(options.delta && { delta: options.delta }),
        ...(session && { session }),
        ...(options.strategy && { strategy: options.strategy }),
        ...(opts.fs && { fs: opts.fs }),
        ...(opts.tmpDir && { tmpDir: opts.tmpDir }),
      }),
    async revision(env) {
      const r = await exec(['nft', '-j', 'list', 'set', 'inet', nftTableName(env), 'revision'], {
        allowFailure: true,
      });
      if (r.code !== 0) return undefined;
      const parsed = JSON.parse(r.stdout) as { nftables: { set?: { elem?: (string | number)[] } }[] };
      const elem = parsed.nftables.find((i) => i.set)?.set?.elem?.[0];
      if (elem === undefined) return undefined;
      return typeof elem === 'number' ? `0x${elem.toString(16).padStart(8, '0')}` : String(elem);
    },
    readDenied: (env) => readDenied(exec, env, session),
    remove: (env) => deleteFirewall(exec, env),
    close: () => session?.close(),
  };
}

interface MemoryTable {
  text: string;
  /** Declarations by block name, to tell an in-place load from a replace as the kernel would. */
  headers: Map<string, string>;
  denied: Map<string, DeniedEntry>;
}

/**
 * A firewall in memory: holds each environment's text and `@denied` entries, picks the strategy
 * nftables would (delta when `previous` is what it holds, in-place when the declarations agree,
 * replace otherwise). `recordDenied` plays the kernel writing `@denied`.
 */
export class MemoryFirewallBackend implements FirewallBackend {
  readonly #tables = new Map<string, MemoryTable>();
  /** Every successful load, in order (what a test asserts on). */
  readonly loads: { env: string; strategy: FirewallApplyStrategy; revision: string }[] = [];

  async apply(
    env: string,
    text: string,
    options: FirewallBackendApplyOptions = {},
  ): Promise<{ strategy: FirewallApplyStrategy; revision: string }> {
    const t = parseCompiledTable(text);
    if (t.family !== 'inet' || t.name !== nftTableName(env)) {
      throw new RampartError(
        'RAMPART_E_INTERNAL',
        `the ruleset is for table ${t.family} ${t.name}, not inet ${nftTableName(env)}`,
      );
    }
    const headers = new Map(t.blocks.map((b) => [b.name, `${b.kind} ${b.header.join('; ')}`]));
    const held = this.#tables.get(env);
    let strategy: FirewallApplyStrategy;
    if (
      options.strategy !== 'replace' &&
      held &&
      options.previous === held.text &&
      (options.delta
        ? options.delta.previousRevision === revisionOf(held.text) &&
          options.delta.revision === revisionOf(text)
        : deltaTransaction(held.text, text) !== undefined)
    )
      strategy = 'delta';
    else if (
      options.strategy !== 'replace' &&
      (!held || [...headers].every(([name, h]) => (held.headers.get(name) ?? h) === h))
    )
      strategy = 'in-place';
    else strategy = 'replace';
    const keepDenied =
      held !== undefined &&
      PRESERVED_SETS.every((name) => held.headers.get(name) === headers.get(name)) &&
      headers.has('denied');
    this.#tables.set(env, {
      text,
      headers,
      denied: keepDenied ? held.denied : new Map(),
    });
    const revision = revisionOf(text);
    this.loads.push({ env, strategy, revision });
    return { strategy, revision };
  }

  async revision(env: string): Promise<string | undefined> {
    const t = this.#tables.get(env);
    return t && revisionOf(t.text);
  }

  /** The text the environment's table holds. */
  text(env: string): string | undefined {
    return this.#tables.get(env)?.text;
  }

  async readDenied(env: string): Promise<DeniedEntry[]> {
    return [...(this.#tables.get(env)?.denied.values() ?? [])].map((e) => ({ ...e }));
  }

  /** Plays the kernel: one denied packet of `entry`'s flow, counted on its element. */
  recordDenied(env: string, entry: Omit<DeniedEntry, 'packets' | 'bytes' | 'expiresInMs'>, bytes = 60): void {
    const t = this.#tables.get(env);
    if (!t) return;
    const key = `${entry.srcIp} ${entry.dstIp} ${entry.protocol} ${entry.dstPort}`;
    const e = t.denied.get(key) ?? { ...entry, packets: 0, bytes: 0 };
    e.packets += 1;
    e.bytes += bytes;
    t.denied.set(key, e);
  }

  async remove(env: string): Promise<void> {
    this.#tables.delete(env);
  }
}
