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
 * come in bursts; they are debounced, and material is applied only when it is usable and
 * differs from what is in use.
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

export interface CertWatcher {
  /** Re-reads now; resolves true when new material was applied. */
  reload(): Promise<boolean>;
  close(): void;
}

export interface MountedFilesOptions<T> {
  /** Directories whose entries are watched (a Secret or ConfigMap mount each). */
  dirs: string[];
  read(): Promise<T>;
  /** Throws when the material is not usable yet (a half-written pair); the next event retries. */
  check?(material: T): void;
  apply(material: T): void | Promise<void>;
  fingerprint(material: T): string;
  logger: Logger;
  debounceMs?: number;
}

/** Watches mounted Secret/ConfigMap directories and applies their content when it changes. */
export function watchMountedFiles<T>(opts: MountedFilesOptions<T>): CertWatcher {
  const log = opts.logger.child({ component: 'cert-reload', dirs: opts.dirs });
  let applied: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();

  const attempt = async (): Promise<boolean> => {
    let material: T;
    try {
      material = await opts.read();
      opts.check?.(material);
    } catch (err) {
      log.warn({ err }, 'mounted material not usable yet; keeping the current one');
      return false;
    }
    const hash = opts.fingerprint(material);
    if (hash === applied || closed) return false;
    await opts.apply(material);
    applied = hash;
    log.info({}, 'reloaded mounted certificates');
    return true;
  };
  // one reload at a time, in order
  const reload = (): Promise<boolean> => {
    const next = queue.then(attempt, attempt);
    queue = next.catch(() => {});
    return next;
  };

  // What the process started with counts as applied, so the first event is a real change.
  void opts.read().then(
    (m) => {
      applied ??= opts.fingerprint(m);
    },
    () => {},
  );

  const watchers: FSWatcher[] = opts.dirs.map((dir) => {
    const watcher = watch(dir, { persistent: false }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => void reload().catch((err: unknown) => log.error({ err }, 'applying mounted material failed')), opts.debounceMs ?? 200);
    });
    watcher.on('error', (err) => log.error({ err }, 'directory watch failed'));
    return watcher;
  });

  return {
    reload,
    close() {
      closed = true;
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}

export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export interface WatchOptions extends TlsDirectory {
  logger: Logger;
  debounceMs?: number;
  /** Options merged into every secure context (e.g. `ca` for client verification). */
  contextOptions?: SecureContextOptions;
  /** Called after new material is applied. */
  onReload?: (material: TlsMaterial) => void;
}

export const tlsFingerprint = (m: TlsMaterial) => createHash('sha256').update(m.cert).update('\0').update(m.key).update('\0').update(m.ca ?? '').digest('hex');

/** A TLS server's own certificate, swapped with setSecureContext for new handshakes. */
export function watchTlsDirectory(target: SecureContextTarget, opts: WatchOptions): CertWatcher {
  const contextFor = (m: TlsMaterial): SecureContextOptions => ({ ...opts.contextOptions, cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) });
  return watchMountedFiles({
    dirs: [opts.dir],
    read: () => readTlsMaterial(opts),
    check: (m) => void createSecureContext(contextFor(m)),
    apply: (m) => {
      target.setSecureContext(contextFor(m));
      opts.onReload?.(m);
    },
    fingerprint: tlsFingerprint,
    logger: opts.logger,
    ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
  });
}
