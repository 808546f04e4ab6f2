import { historicalOrders } from './seed.ts';
const t0 = performance.now(); let n = 0; const now = Date.parse('2025-01-01T00:00:00Z');
for (const o of historicalOrders(1_000_000, 1, now)) { n++; }
console.log(n, (performance.now() - t0).toFixed(0), 'ms');
