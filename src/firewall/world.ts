import type { NetworkName, ResolvedStack } from '../stack/index.ts';
import type { World, WorldPod } from './types.ts';

/** The label every pod carries with its service name (Kubernetes' recommended app label). */
export const SERVICE_LABEL = 'app.kubernetes.io/name';
/** Kubernetes sets this label on every namespace; namespaceSelectors rely on it. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface WorldReplica {
  namespace: string;
  service: string;
  index: number;
  attachments: readonly { net: NetworkName; address: string }[];
}

/**
 * Pure: the environment as the firewall sees it. Pods are the replicas of services and
 * databases (a database is a pod labelled with its name; its one port is named `postgres` or
 * `cockroach`); namespaces carry their stack labels plus `kubernetes.io/metadata.name`.
 */
export function buildWorld(stack: ResolvedStack, replicas: readonly WorldReplica[]): World {
  const namespaces = new Map<string, Record<string, string>>();
  for (const ns of stack.namespaces)
    namespaces.set(ns.name, { ...ns.labels, [NAMESPACE_NAME_LABEL]: ns.name });
  const ensureNs = (name: string) => {
    if (!namespaces.has(name)) namespaces.set(name, { [NAMESPACE_NAME_LABEL]: name });
  };
  const pods: WorldPod[] = [];
  for (const r of replicas) {
    ensureNs(r.namespace);
    const svc = stack.services.find((s) => s.name === r.service && s.namespace === r.namespace);
    const db = stack.databases.find((d) => d.name === r.service && d.namespace === r.namespace);
    if (!svc && !db) continue;
    pods.push({
      namespace: r.namespace,
      service: r.service,
      name: `${r.service}-${r.index}`,
      labels: svc
        ? { ...svc.labels, [SERVICE_LABEL]: svc.name }
        : { [SERVICE_LABEL]: db!.name, 'rampart.io/database': db!.engine },
      ips: r.attachments.map((a) => a.address),
      ports: svc
        ? svc.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol }))
        : [
            {
              name: db!.engine === 'postgres' ? 'postgres' : 'cockroach',
              port: db!.port,
              protocol: 'TCP' as const,
            },
          ],
    });
  }
  pods.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return {
    namespaces: [...namespaces]
      .map(([name, labels]) => ({ name, labels }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    pods,
  };
}
