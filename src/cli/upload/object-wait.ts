/**
 * Waiting on one Kubernetes object until a condition holds, by watching it: a GET, then a watch
 * of its collection narrowed to its name from that GET's resourceVersion, so a change between the
 * two is replayed, not missed. A watch that ends (server timeout, 410 Expired, a dropped
 * connection, client-node's 30 s inactivity limit) is followed by a fresh GET and a new watch.
 * An object's resourceVersion is that of its last change, which a busy server may have compacted
 * away: after a 410 the watches start from the object's current state instead (no resourceVersion:
 * the server sends that state first), which misses nothing either.
 *
 * An API server that refuses to watch (a 4xx that retrying cannot change, or an answer that is not
 * a watch stream) is read with one GET every `pollMs` instead, as before watches. Cycles never come
 * faster than `pollMs`, so a server that ends every watch at once costs no more than polling.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Watch } from '@kubernetes/client-node';

export interface WatchedObject {
  metadata?: { resourceVersion?: string };
}

export interface ObjectWait<T extends WatchedObject> {
  /** Where the object's kind lives in its namespace, e.g. `/api/v1/namespaces/default/persistentvolumeclaims`. */
  collection: string;
  name: string;
  /** One GET: the object, or undefined while it does not exist; a throw ends the wait. */
  read(): Promise<T | undefined>;
  /** Whether the wait is over for this state of the object; a throw ends the wait with that error. */
  isDone(object: T | undefined): boolean;
  /** The interval of the poll fallback, and the shortest time between two GET-and-watch cycles. */
  pollMs: number;
  timeoutMs: number;
  timeoutError(): Error;
  /** A slower check run while the wait lasts, first right after the first GET found it not done; a throw ends the wait. */
  alongside?: { everyMs: number; run(): Promise<void> };
}

type WatchEnd = 'ended' | 'expired' | 'refused';

/** Statuses that say this server will not let us watch here, now or on retry; the rest (410, 429, 5xx, …) are worth a new watch. */
const refusesWatching = (status: number | undefined): boolean => status !== undefined && status >= 400 && status < 500 && ![408, 410, 429].includes(status);

function watchEnd(status: number | undefined): WatchEnd {
  if (status === 410) return 'expired';
  return refusesWatching(status) ? 'refused' : 'ended';
}

const WatchEventTypes = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}

export function waitForObject<T extends WatchedObject>(wait: ObjectWait<T>, watch: Watch): Promise<void> {
  const over = new AbortController();
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const finish = (err?: unknown): void => {
    if (over.signal.aborted) return;
    over.abort();
    clearTimeout(deadline);
    if (err === undefined) resolve();
    else reject(err instanceof Error ? err : new Error(String(err)));
  };
  const deadline = setTimeout(() => finish(wait.timeoutError()), wait.timeoutMs);
  const check = (object: T | undefined): boolean => {
    try {
      if (!wait.isDone(object)) return false;
      finish();
    } catch (err) {
      finish(err);
    }
    return true;
  };

  let alongsideStarted = false;
  const startAlongside = (): void => {
    const side = wait.alongside;
    if (alongsideStarted || !side) return;
    alongsideStarted = true;
    void (async () => {
      while (!over.signal.aborted) {
        await side.run();
        await pause(side.everyMs, over.signal);
      }
    })().catch(finish);
  };

  void (async () => {
    let watching = true;
    let fromGet = true;
    while (!over.signal.aborted) {
      const cycleStart = Date.now();
      const object = await wait.read();
      if (over.signal.aborted || check(object)) return;
      startAlongside();
      if (watching) {
        const end = await watchOnce(wait, fromGet ? object?.metadata?.resourceVersion : undefined, watch, check, over.signal);
        if (end === 'refused') watching = false;
        if (end === 'expired') fromGet = false;
      }
      await pause(cycleStart + wait.pollMs - Date.now(), over.signal);
    }
  })().catch(finish);

  return promise;
}

/** One watch of the object, from `resourceVersion` (or its current state); settles when it ends, or when the wait is over. */
function watchOnce<T extends WatchedObject>(
  wait: ObjectWait<T>,
  resourceVersion: string | undefined,
  watch: Watch,
  check: (object: T | undefined) => boolean,
  over: AbortSignal,
): Promise<WatchEnd> {
  return new Promise((resolve) => {
    let stream: AbortController | undefined;
    let settled = false;
    const end = (how: WatchEnd): void => {
      if (settled) return;
      settled = true;
      over.removeEventListener('abort', onOver);
      stream?.abort();
      resolve(how);
    };
    const onOver = (): void => end('ended');
    over.addEventListener('abort', onOver);

    const query = { fieldSelector: `metadata.name=${wait.name}`, ...(resourceVersion ? { resourceVersion } : {}) };
    const onEvent = (type: string, object: unknown): void => {
      if (settled) return;
      if (!WatchEventTypes.has(type)) return end('refused');
      if (type === 'ERROR') return end(watchEnd((object as { code?: number }).code));
      // A server that ignores the field selector sends the namespace's other objects too.
      if (type === 'BOOKMARK' || (object as { metadata?: { name?: string } }).metadata?.name !== wait.name) return;
      if (check(type === 'DELETED' ? undefined : (object as T))) end('ended');
    };
    const onEnd = (err: unknown): void => end(watchEnd((err as { statusCode?: number } | null)?.statusCode));
    watch.watch(wait.collection, query, onEvent, onEnd).then(
      (controller: AbortController) => {
        stream = controller;
        if (settled) controller.abort();
      },
      () => end('refused'),
    );
  });
}
