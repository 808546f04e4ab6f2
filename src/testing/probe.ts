import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SERVICE_USER } from '../platform/names.ts';

const run = promisify(execFile);

/**
 * Probes for privileged tests: run a Node one-liner inside a replica's network namespace as the
 * service user (what `rampart exec` does) and read what it printed.
 */
export async function inNetns(netns: string, script: string, timeoutMs = 10_000): Promise<string> {
  const { stdout } = await run(
    'ip',
    [
      'netns',
      'exec',
      netns,
      'setpriv',
      `--reuid=${SERVICE_USER}`,
      `--regid=${SERVICE_USER}`,
      '--clear-groups',
      '--',
      process.execPath,
      '-e',
      script,
    ],
    { timeout: timeoutMs },
  );
  return stdout.trim();
}

/** A one-liner that GETs `url` and prints the body, or `ERR <code>` (`ERR TIMEOUT` after 2–3 s). */
export const httpGetScript = (url: string): string =>
  `require('http').get(${JSON.stringify(url)},{timeout:2500},r=>{let b='';r.on('data',c=>b+=c);r.on('end',()=>console.log(b))}).on('error',e=>console.log('ERR '+e.code)).on('timeout',function(){this.destroy(Object.assign(new Error(),{code:'TIMEOUT'}))})`;

/** A one-liner that opens a TCP connection and prints `CONNECTED` or `ERR <code>`. */
export const tcpConnectScript = (host: string, port: number): string =>
  `const s=require('net').connect(${port},${JSON.stringify(host)});s.setTimeout(2000,()=>{console.log('ERR TIMEOUT');process.exit(0)});s.on('connect',()=>{console.log('CONNECTED');process.exit(0)});s.on('error',e=>{console.log('ERR '+e.code);process.exit(0)})`;
