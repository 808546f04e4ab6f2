/**
 * The firewall's model: Kubernetes `networking.k8s.io/v1` NetworkPolicy over a world of "pods"
 * (Rampart service replicas) with labels in namespaces with labels. Every firewall module speaks
 * these types; the controller builds the World from the running environment.
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** An empty selector `{}` selects everything; an absent one selects nothing (where optional). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  /** @default TCP */
  protocol?: Protocol;
  /** A number or a named port of the destination pod. Absent: all ports. */
  port?: number | string;
  /** With a numeric `port`: the range port..endPort. */
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: ('Ingress' | 'Egress')[];
    ingress?: NetworkPolicyIngressRule[];
    egress?: NetworkPolicyEgressRule[];
  };
}

export interface WorldNamespace {
  name: string;
  /** Includes `kubernetes.io/metadata.name: <name>`, as Kubernetes sets it. */
  labels: Readonly<Record<string, string>>;
}

/** One replica of a service: a pod. */
export interface WorldPod {
  namespace: string;
  /** The service name. */
  service: string;
  /** `<service>-<i>` */
  name: string;
  /** The service's labels plus `app.kubernetes.io/name: <service>`. */
  labels: Readonly<Record<string, string>>;
  /** Its addresses (one per network). */
  ips: readonly string[];
  ports: readonly { name: string; port: number; protocol: Protocol }[];
}

export interface World {
  namespaces: readonly WorldNamespace[];
  pods: readonly WorldPod[];
}

export type FirewallMode = 'learn' | 'monitor' | 'protect';

/** A connection attempt as the kernel saw it (after the service VIP was translated). */
export interface Flow {
  srcIp: string;
  dstIp: string;
  protocol: Protocol;
  dstPort: number;
  /** ms since epoch */
  time: number;
}

/** Why a flow is allowed or denied, naming the policy and rule that decided. */
export interface Verdict {
  allowed: boolean;
  /** Egress side: 'not-isolated' or the policies/rules that allow it, or none. */
  egress: SideVerdict;
  ingress: SideVerdict;
  /** One line for people: "allowed by fraud/allow-gateway ingress[0]" or "no policy allows it". */
  reason: string;
}

export interface SideVerdict {
  isolated: boolean;
  allowed: boolean;
  /** Policies selecting the pod in this direction (what isolates it). */
  selectingPolicies: string[];
  /** `<namespace>/<policy> <ingress|egress>[<rule index>]` entries that allow the flow. */
  allowedBy: string[];
}
