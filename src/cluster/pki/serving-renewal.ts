import { X509Certificate } from 'node:crypto';
import type { Logger } from '../../api/logger.ts';

/** Share of a serving certificate's life after which cdi serve replaces it (cluster mode: half). */
const RenewAtLifeFraction = 0.8;
// setTimeout's limit; a longer wait is taken in steps.
const MaxTimerMs = 2 ** 31 - 1;

/** When a certificate is due for replacement: 80% into its life. Unreadable means due now. */
export function renewalDue(certPem: string): Date {
  try {
    const cert = new X509Certificate(certPem);
    const from = cert.validFromDate.getTime();
    return new Date(from + (cert.validToDate.getTime() - from) * RenewAtLifeFraction);
  } catch {
    return new Date(0);
  }
}

/**
 * Keeps a serving certificate fresh while the process runs: at its renewal time `renew` issues
 * and installs a new one, and the wait starts again from that one. A failed renewal is retried
 * a minute later. Returns the function that stops it.
 */
export function keepRenewed(certPem: string, renew: () => Promise<string>, logger: Logger, what: string): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (pem: string, retryMs?: number): void => {
    if (stopped) return;
    const wait = retryMs ?? Math.max(0, renewalDue(pem).getTime() - Date.now());
    timer = setTimeout(() => {
      if (Date.now() < renewalDue(pem).getTime() && retryMs === undefined) return schedule(pem);
      renew().then(
        (next) => {
          logger.info({ certificate: what, notAfter: new X509Certificate(next).validTo }, 'serving certificate renewed');
          schedule(next);
        },
        (err: unknown) => {
          logger.error({ certificate: what, err: String(err) }, 'renewing the serving certificate failed; retrying in a minute');
          schedule(pem, 60_000);
        },
      );
    }, Math.min(wait, MaxTimerMs));
    timer.unref();
  };
  schedule(certPem);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
