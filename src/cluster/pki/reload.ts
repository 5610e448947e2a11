import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../../api/logger.ts';

/**
 * Serves renewed certificates without a restart. Kubernetes updates a mounted Secret by writing
 * a new timestamped directory and swapping the `..data` symlink, so the watch is on the
 * directory (a watch on `tls.crt` itself would follow the old inode and miss the swap). Events
 * come in bursts; they are debounced, and material is applied only when it parses as a
 * matching key and certificate and differs from what is served.
 */

export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
}

export interface TlsDirectory {
  dir: string;
  certFile?: string;
  keyFile?: string;
  /** Optional trust bundle for verifying clients, e.g. `ca.crt`. */
  caFile?: string;
}

export async function readTlsMaterial(spec: TlsDirectory): Promise<TlsMaterial> {
  const read = (file: string) => readFile(join(spec.dir, file), 'utf8');
  const [cert, key, ca] = await Promise.all([
    read(spec.certFile ?? 'tls.crt'),
    read(spec.keyFile ?? 'tls.key'),
    spec.caFile ? read(spec.caFile) : Promise.resolve(undefined),
  ]);
  return ca === undefined ? { cert, key } : { cert, key, ca };
}

export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export interface WatchOptions extends TlsDirectory {
  logger: Logger;
  debounceMs?: number;
  /** Options merged into every secure context (ciphers, minVersion, requestCert is per server). */
  contextOptions?: SecureContextOptions;
  /** Called after new material is applied, e.g. to rebuild an outgoing client agent. */
  onReload?: (material: TlsMaterial) => void;
}

export interface CertWatcher {
  /** Re-reads now; resolves true when new material was applied. */
  reload(): Promise<boolean>;
  close(): void;
}

const digest = (m: TlsMaterial) => createHash('sha256').update(m.cert).update('\0').update(m.key).update('\0').update(m.ca ?? '').digest('hex');

export function watchTlsDirectory(target: SecureContextTarget, opts: WatchOptions): CertWatcher {
  const log = opts.logger.child({ component: 'cert-reload', dir: opts.dir });
  let applied: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  async function reload(): Promise<boolean> {
    let material: TlsMaterial;
    try {
      material = await readTlsMaterial(opts);
      const options = { ...opts.contextOptions, cert: material.cert, key: material.key, ...(material.ca ? { ca: material.ca } : {}) };
      createSecureContext(options); // throws on a half-written pair; the next event retries
      const hash = digest(material);
      if (hash === applied || closed) return false;
      target.setSecureContext(options);
      applied = hash;
    } catch (err) {
      log.warn({ err }, 'certificate material not usable yet; keeping the current one');
      return false;
    }
    log.info({}, 'reloaded TLS certificate');
    opts.onReload?.(material);
    return true;
  }

  // The material the server was started with counts as applied, so the first event is a real change.
  void readTlsMaterial(opts).then(
    (m) => {
      applied ??= digest(m);
    },
    () => {},
  );

  const watcher: FSWatcher = watch(opts.dir, { persistent: false }, () => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), opts.debounceMs ?? 200);
  });
  watcher.on('error', (err) => log.error({ err }, 'certificate directory watch failed'));

  return {
    reload,
    close() {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
