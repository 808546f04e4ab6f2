import { runFraudBench } from './fraud.ts';
const r = await runFraudBench({ historyOrders: 20_000, bureauPersons: 5_000, startRate: 30, rampFactor: 1.5, stepMs: 5_000, measureMs: 8_000, skipModel: true, resultName: null, maxRate: 400 });
console.log(JSON.stringify({ up: r.up, sustained: r.sustainedRate, ramp: r.ramp.map(s => [s.rate, s.passed, s.why, s.report.latencyMs.p99]), half: r.atHalf?.latencyMs, cpu: r.cpu }, null, 1));
