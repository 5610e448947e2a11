/**
 * How the DataImportCron controller asks a registry for a tag's current digest. The controller
 * speaks only the Kubernetes API, so whoever starts it (cdi serve, cluster mode's cdi-controller)
 * hands it the registry client's poller (src/sources/registry/digest.ts).
 */
export interface DigestPollOptions {
  credentials?: { user: string; password: string };
  /** pullMethod node: without `credentials`, ask with this machine's container credentials (containers-auth.json(5)). */
  machineCredentials?: boolean;
  /** CA certificates to trust (a certConfigMap's data), file name → PEM. */
  caFiles?: Record<string, string>;
  insecure?: boolean;
  timeoutMs?: number;
}

export type ImageDigestPoller = (url: string, options: DigestPollOptions) => Promise<string>;
