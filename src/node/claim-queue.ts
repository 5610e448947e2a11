import type { Logger } from '../api/logger.ts';
import { KeyedQueue } from './keyed-queue.ts';

export interface ClaimWork {
  /** Binds or re-provisions the claim `namespace/name` as the cache has it now. */
  sync(namespace: string, name: string): Promise<void>;
  /** Removes the data of the deleted claim with this uid. */
  remove(namespace: string, uid: string): Promise<void>;
}

/**
 * The node agent's claim work, one claim name at a time. A deletion runs under the claim's own
 * key, so it waits for a sync of that claim already under way: that sync read the claim before
 * it was deleted and re-creates its volume, which a removal running beside it would leave
 * behind for good. Data is keyed by uid, so a new claim of the same name never meets the old
 * one's files.
 */
export class ClaimQueue {
  private readonly deleted = new Map<string, Set<string>>();
  private readonly queue: KeyedQueue;

  constructor(work: ClaimWork, logger: Logger) {
    this.queue = new KeyedQueue(async (key) => {
      const slash = key.indexOf('/');
      const namespace = key.slice(0, slash);
      const name = key.slice(slash + 1);
      const uids = this.deleted.get(key);
      for (const uid of uids ?? []) {
        await work.remove(namespace, uid);
        uids?.delete(uid);
      }
      if (uids?.size === 0) this.deleted.delete(key);
      await work.sync(namespace, name);
    }, logger);
  }

  changed(namespace: string, name: string): void {
    this.queue.enqueue(`${namespace}/${name}`);
  }

  removed(namespace: string, name: string, uid: string): void {
    const key = `${namespace}/${name}`;
    const uids = this.deleted.get(key) ?? new Set<string>();
    uids.add(uid);
    this.deleted.set(key, uids);
    this.queue.enqueue(key);
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
