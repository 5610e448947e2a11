import path from 'node:path';
import { CdiError } from '../api/errors.ts';

/**
 * Where the local node agent keeps things under the data dir. The API server's pod `/log`
 * reads `podLogPath`, so this is the one place the convention is spelled out:
 *   volumes/<ns>/<claim-uid>/        a Filesystem claim (the image is disk.img inside)
 *   volumes/<ns>/<claim-uid>.img     a Block claim
 *   pods/<ns>/<pod>/<container>.log  the current container's stdout+stderr
 *   pods/<ns>/<pod>/<container>.previous.log  the one before the last restart
 *   pods/<ns>/<pod>/tmp/             the worker's HOME and TMPDIR (owned by its user)
 *   sockets/<pod-uid>/upload.sock    an upload server's socket (owned by its user)
 *   cache/node-compile/<uid>/        Node's compile cache, one per worker user
 */
export const LocalVolumePathAnnotation = 'local.cdi.kubevirt.io/path';
export const LocalProvisioner = 'local.cdi.kubevirt.io';
export const LocalStorageClass = 'local';
export const LocalNodeName = 'cdi-local';

export function volumesRoot(dataDir: string): string {
  return path.join(dataDir, 'volumes');
}

export function claimVolumePath(dataDir: string, namespace: string, claimUid: string, block: boolean): string {
  return path.join(volumesRoot(dataDir), safeSegment(namespace), block ? `${safeSegment(claimUid)}.img` : safeSegment(claimUid));
}

/** The node's image store: image volume files by manifest digest (image-volume.ts). */
export function imageStoreDir(dataDir: string): string {
  return path.join(dataDir, 'images');
}

export function podsRoot(dataDir: string): string {
  return path.join(dataDir, 'pods');
}

export function podDir(dataDir: string, namespace: string, name: string): string {
  return path.join(podsRoot(dataDir), safeSegment(namespace), safeSegment(name));
}

export function podLogPath(dataDir: string, namespace: string, name: string, container: string, previous = false): string {
  return path.join(podDir(dataDir, namespace, name), `${safeSegment(container)}${previous ? '.previous' : ''}.log`);
}

export function terminationLogPath(dataDir: string, namespace: string, name: string, container: string): string {
  return path.join(podDir(dataDir, namespace, name), `${safeSegment(container)}.termination-log`);
}

export function pidFilePath(dataDir: string, namespace: string, name: string, container: string): string {
  return path.join(podDir(dataDir, namespace, name), `${safeSegment(container)}.pid`);
}

export function podTmpDir(dataDir: string, namespace: string, name: string): string {
  return path.join(podDir(dataDir, namespace, name), 'tmp');
}

export function socketsRoot(dataDir: string): string {
  return path.join(dataDir, 'sockets');
}

export function compileCacheDir(dataDir: string, uid: number): string {
  return path.join(dataDir, 'cache', 'node-compile', String(uid));
}

export function podVolumeDir(dataDir: string, namespace: string, name: string, volume: string): string {
  return path.join(podDir(dataDir, namespace, name), 'volumes', safeSegment(volume));
}

/** Kubernetes names are DNS labels already; this only guarantees no path escapes the data dir. */
function safeSegment(s: string): string {
  if (!s || s === '.' || s === '..' || /[/\\\0]/.test(s)) throw new CdiError('CDI_ERR_UNSAFE_NAME', [JSON.stringify(s)]);
  return s;
}
