/**
 * The OTLP/HTTP port (the OTLP default) the control plane listens on at each environment's bridge
 * gateways while the environment exists: replicas have no default route and reach only those
 * addresses. The plan points Node replicas at it and the firewall lets replicas reach it (see
 * docs/decisions/0004-otlp-from-replicas.md).
 */
export const OTLP_GATEWAY_PORT = 4318;
