import { createHash } from 'node:crypto';
import type { NetworkName } from '../stack/index.ts';

/**
 * Every name Rampart gives a kernel object comes from here, so ownership is recognisable and
 * `rampart down` / crash cleanup never touches anything else. Formats:
 *
 * | object              | format                                   | limit                         |
 * |---------------------|------------------------------------------|-------------------------------|
 * | bridge              | `rp-<env>-app`, `rp-<env>-db`            | 15 chars (IFNAMSIZ - 1)       |
 * | host side of a veth | `rv` + 12 hex of sha1(env/ns/svc/i/net)  | 14 chars                      |
 * | veth in the replica | `app0`, `db0`                            |                               |
 * | network namespace   | `rampart-<env>-<namespace>-<service>-<i>`| 255 (a file in /run/netns)    |
 * | nftables tables     | `ip rampart_<env>` (load balancing),     |                               |
 * |                     | `inet rampart_<env>` (firewall)          | (`-` becomes `_`)             |
 *
 * Environment names are therefore at most 8 characters: `rp-` + 8 + `-app` = 15.
 */
export const IFNAMSIZ_MAX = 15;
export const MAX_ENV_NAME = 8;
export const ENV_NAME_PATTERN = /^[a-z][a-z0-9-]*$/;
/** Service, database and namespace names: DNS labels (RFC 1123), as in Kubernetes. */
export const DNS_LABEL_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const MAX_DNS_LABEL = 63;

/** The unprivileged OS user services run as; created on first use (or by `rampart doctor --fix`). */
export const SERVICE_USER = 'rampart';

export const NETNS_PREFIX = 'rampart-';
export const BRIDGE_PREFIX = 'rp-';
export const VETH_PREFIX = 'rv';
export const NFT_TABLE_PREFIX = 'rampart_';
/** Every link Rampart creates carries this alias prefix; cleanup checks it before deleting. */
export const LINK_ALIAS_PREFIX = 'rampart:';

export function bridgeName(env: string, net: NetworkName): string {
  return `${BRIDGE_PREFIX}${env}-${net}`;
}

export function netnsName(env: string, namespace: string, service: string, index: number): string {
  return `${NETNS_PREFIX}${env}-${namespace}-${service}-${index}`;
}

export function vethHostName(
  env: string,
  namespace: string,
  service: string,
  index: number,
  net: NetworkName,
): string {
  const digest = createHash('sha1').update(`${env}/${namespace}/${service}/${index}/${net}`).digest('hex');
  return `${VETH_PREFIX}${digest.slice(0, 12)}`;
}

export function vethReplicaName(net: NetworkName): string {
  return `${net}0`;
}

export function nftTableName(env: string): string {
  return `${NFT_TABLE_PREFIX}${env.replaceAll('-', '_')}`;
}

/** Why `env` cannot be an environment name, or undefined if it can. */
export function envNameProblem(env: string): string | undefined {
  if (!ENV_NAME_PATTERN.test(env)) return 'must start with a lowercase letter and hold only a-z, 0-9 and -';
  if (env.length > MAX_ENV_NAME) {
    return `too long for an interface: bridge '${bridgeName(env, 'app')}' would be ${bridgeName(env, 'app').length} characters, the kernel allows ${IFNAMSIZ_MAX}; use at most ${MAX_ENV_NAME} characters`;
  }
  return undefined;
}

/** The replica's id as users see it: `<namespace>/<service>-<i>`. */
export function replicaId(namespace: string, service: string, index: number): string {
  return `${namespace}/${service}-${index}`;
}
