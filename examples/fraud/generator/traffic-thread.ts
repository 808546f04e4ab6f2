/**
 * The body of `runTrafficApart` (traffic.ts): runs `runTraffic` on its own thread with the options
 * it was given and posts `{ report }` or `{ error }`; `'abort'` from the caller stops the traffic
 * as its AbortSignal would.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runTraffic, type TrafficOptions } from './traffic.ts';

const port = parentPort;
if (!port) throw new Error('traffic-thread.ts runs as a worker thread (runTrafficApart)');
const controller = new AbortController();
port.on('message', (message) => {
  if (message === 'abort') controller.abort();
});
runTraffic({
  ...(workerData as Omit<TrafficOptions, 'signal' | 'log'>),
  signal: controller.signal,
}).then(
  (report) => {
    port.postMessage({ report });
    port.close();
  },
  (error: unknown) => {
    port.postMessage({ error: error instanceof Error ? error.message : String(error) });
    port.close();
  },
);
