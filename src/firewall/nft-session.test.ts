import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { InteractiveChild } from '../platform/exec.ts';
import { NFT_SESSION_ARGV, NftSession } from './nft-session.ts';

/** A scripted `nft -j -i`: answers each stdin line with `answer(line)` (stdout) or an error (stderr). */
function fakeNft(answer: (line: string) => { out?: string; err?: string } | 'hang') {
  const children: (InteractiveChild & { pid: number; argv: readonly string[]; killed?: string })[] = [];
  const spawn = (argv: readonly string[]) => {
    const events = new EventEmitter();
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const child = {
      pid: 1000 + children.length,
      argv,
      stdin,
      stdout,
      stderr,
      kill(signal: NodeJS.Signals = 'SIGTERM') {
        child.killed = signal;
        setImmediate(() => events.emit('exit', null, signal));
        return true;
      },
      once: (event: string, listener: (...args: any[]) => void) => events.once(event, listener),
    } as InteractiveChild & { pid: number; argv: readonly string[]; killed?: string };
    let buf = '';
    stdin.on('data', (b: Buffer) => {
      buf += b.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const a = answer(line);
        if (a === 'hang') continue;
        if (a.out !== undefined) stdout.write(`${a.out}\n`);
        // nft prints the error, then the command and a caret line under the culprit.
        if (a.err !== undefined) stderr.write(`Error: ${a.err}\n${line}\n     ^^^^^^\n`);
      }
    });
    children.push(child);
    return child;
  };
  return { spawn, children };
}

describe('NftSession', () => {
  it('GIVEN several listings THEN one nft -j -i answers them all, in order, each with its own line', async () => {
    const nft = fakeNft((line) => ({ out: JSON.stringify({ asked: line }) }));
    const session = new NftSession({ spawn: nft.spawn });
    const answers = await Promise.all(
      ['list set inet a denied', 'list set inet b denied'].map((c) => session.run(c)),
    );
    assert.deepEqual(
      answers.map((a) => JSON.parse(a)),
      [{ asked: 'list set inet a denied' }, { asked: 'list set inet b denied' }],
    );
    assert.equal(nft.children.length, 1);
    assert.deepEqual(nft.children[0]!.argv, NFT_SESSION_ARGV);
    session.close();
    assert.equal(nft.children[0]!.killed, 'SIGTERM');
    // Closed is not final: the next command starts a new child.
    assert.deepEqual(JSON.parse(await session.run('list set inet c denied')), {
      asked: 'list set inet c denied',
    });
    assert.equal(nft.children.length, 2);
    session.close();
  });

  it('GIVEN nft refuses a command THEN that command fails with the Error line and the next one still answers', async () => {
    const nft = fakeNft((line) =>
      line.includes('nosuch') ? { err: 'No such file or directory' } : { out: '{}' },
    );
    const session = new NftSession({ spawn: nft.spawn });
    await assert.rejects(session.run('list set inet nosuch denied'), /Error: No such file or directory$/);
    assert.equal(await session.run('list set inet a denied'), '{}');
    assert.equal(nft.children.length, 1);
    session.close();
  });

  it('GIVEN nft hangs THEN the command times out, the child is killed and the next command starts a new one', async () => {
    let hang = true;
    const nft = fakeNft(() => (hang ? 'hang' : { out: '{"ok":1}' }));
    const session = new NftSession({ spawn: nft.spawn, timeoutMs: 50 });
    await assert.rejects(session.run('list set inet a denied'), /did not answer/);
    assert.equal(nft.children[0]!.killed, 'SIGKILL');
    await new Promise((r) => setImmediate(r));
    hang = false;
    assert.equal(await session.run('list set inet a denied'), '{"ok":1}');
    assert.equal(session.started, 2);
    session.close();
  });

  it('GIVEN a transaction THEN it is one line, its errors are collected, and the check line answers; a failing check fails it', async () => {
    const lines: string[] = [];
    const nft = fakeNft((line) => {
      lines.push(line);
      if (line.startsWith('delete element'))
        return line.includes('{ 0x1 }') ? {} : { err: 'Could not process rule: No such file or directory' };
      if (line.includes('nosuch')) return { err: 'No such file or directory' };
      return { out: '{"rev":2}' };
    });
    const session = new NftSession({ spawn: nft.spawn });
    const ok = await session.transact(
      ['delete element inet t revision { 0x1 }', 'add element inet t revision { 0x2 }'],
      'list set inet t revision',
    );
    assert.deepEqual(ok, { stdout: '{"rev":2}', errors: [] });
    assert.deepEqual(lines.slice(0, 2), [
      'delete element inet t revision { 0x1 }; add element inet t revision { 0x2 }',
      'list set inet t revision',
    ]);
    const refused = await session.transact(
      ['delete element inet t revision { 0x9 }'],
      'list set inet t revision',
    );
    assert.deepEqual(refused, {
      stdout: '{"rev":2}',
      errors: ['Error: Could not process rule: No such file or directory'],
    });
    await assert.rejects(
      session.transact(['delete element inet nosuch revision { 0x9 }'], 'list set inet nosuch revision'),
      /No such file or directory/,
    );
    assert.equal(await session.run('list set inet t revision'), '{"rev":2}');
    assert.equal(nft.children.length, 1);
    session.close();
  });
});
