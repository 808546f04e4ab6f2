import { NAMESPACE_NAME_LABEL, SERVICE_LABEL } from '../world.ts';
import type { NetworkPolicy, World, WorldPod } from '../types.ts';

/**
 * The small multi-namespace model of the Kubernetes network-policy e2e suites: namespaces x and y,
 * pods a, b and c in each, every pod serving TCP 80 (`http`), 81 (`alt`), 82 and UDP 53 (`dns`)
 * and UDP 80. Shared by the unit tests, the golden files and the privileged enforcement test.
 */
export const MODEL_NAMESPACES = ['x', 'y'] as const;
export const MODEL_PODS = ['a', 'b', 'c'] as const;
export type ModelPodId = `${(typeof MODEL_NAMESPACES)[number]}/${(typeof MODEL_PODS)[number]}`;
export const MODEL_POD_IDS: readonly ModelPodId[] = MODEL_NAMESPACES.flatMap((ns) =>
  MODEL_PODS.map((p): ModelPodId => `${ns}/${p}`),
);

export const MODEL_PORTS: WorldPod['ports'] = [
  { name: 'http', port: 80, protocol: 'TCP' },
  { name: 'alt', port: 81, protocol: 'TCP' },
  { name: 'extra', port: 82, protocol: 'TCP' },
  { name: 'dns', port: 53, protocol: 'UDP' },
  { name: 'http-udp', port: 80, protocol: 'UDP' },
];

/** The model's world; `ipOf` gives each pod its address (the unit tests use 198.18.16.10 + i). */
export function modelWorld(ipOf: (id: ModelPodId, index: number) => string = defaultIp): World {
  return {
    namespaces: MODEL_NAMESPACES.map((ns) => ({ name: ns, labels: { ns, [NAMESPACE_NAME_LABEL]: ns } })),
    pods: MODEL_POD_IDS.map((id, i) => {
      const [namespace, pod] = id.split('/') as [string, string];
      return {
        namespace,
        service: pod,
        name: `${pod}-0`,
        labels: { pod, [SERVICE_LABEL]: pod },
        ips: [ipOf(id, i)],
        ports: MODEL_PORTS,
      };
    }),
  };
}

function defaultIp(_id: ModelPodId, index: number): string {
  return `198.18.16.${10 + index}`;
}

/** A policy in the model, written as the YAML a user would write (the parser is tested apart). */
export function policy(namespace: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}
