// Decision 0013's measurement: what V8 promise hooks cost a Node 20 process, on, and after.
//   node docs/evidence/promise-hooks.mjs [none|on|after|native]
//   (add --trace-protector-invalidation to see V8 give up its PromiseHook protector)
// Each line: 300,000 calls of an async function that awaits ten others.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';

async function leaf(x) {
  return x + 1;
}
async function mid(x) {
  let s = 0;
  for (let i = 0; i < 10; i++) s += await leaf(i);
  return s + x;
}
async function bench(label) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < 300_000; i++) await mid(i);
  console.log(`${label}: ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(0)} ms`);
}

const mode = process.argv[2] ?? 'none';
await bench('warm-up');
await bench('before');
const als = new AsyncLocalStorage();
if (mode === 'on') {
  als.enterWith({ traced: true });
  await bench('AsyncLocalStorage entered (hooks on)');
} else if (mode === 'after') {
  als.enterWith({ traced: true });
  await leaf(0);
  als.disable();
  await new Promise((r) => setTimeout(r, 10));
} else if (mode === 'native') {
  const { loadNativeContext } = createRequire(import.meta.url)('../../src/observe/preload/native/index.cjs');
  const slot = loadNativeContext();
  if (!slot) throw new Error('build it first: node scripts/build-native.mjs');
  slot.set({ traced: true });
  await bench('native slot set');
  slot.set(undefined);
}
await bench(`${mode}: after`);
await bench(`${mode}: after, again`);
