import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { UpstreamConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { GuardedTlsOptions } from './address-policy.js';

/**
 * The TLS options of an upstream's own pool: its CA file added to the system's CAs (Node's
 * `ca` replaces them otherwise), or verification off, said loudly at every start.
 */
export function tlsOptions(config: UpstreamConfig, log: Logger | undefined): GuardedTlsOptions {
  const tls = config.tls;
  if (!tls) return {};
  if (tls.insecureSkipVerify) {
    log?.warn('TLS certificate verification is OFF for this upstream (tls.insecure_skip_verify): anyone on the path can impersonate it; for labs only', { upstream: config.name });
    return { rejectUnauthorized: false };
  }
  return tls.caFile ? { ca: [...rootCertificates, readFileSync(tls.caFile, 'utf8')] } : {};
}
