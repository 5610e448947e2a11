import type { Logger } from '../api/logger.ts';
import { findKind, type KubeObject } from './kinds.ts';
import type { ObjectService } from './objects.ts';

/**
 * Events expire, as kube-apiserver's `--event-ttl` (default 1 h) makes them: the controller
 * records one per phase change, and without expiry they would pile up in the store forever.
 */
const events = findKind('', 'v1', 'events')!;

function lastSeen(ev: KubeObject): number {
  const t = (ev.lastTimestamp ?? ev.eventTime ?? ev.metadata?.creationTimestamp) as string | undefined;
  return t ? Date.parse(t) : 0;
}

/** Deletes every Event last seen before `now - ttlMs`; returns how many went. */
export function sweepExpiredEvents(service: ObjectService, ttlMs: number, now = Date.now()): number {
  let removed = 0;
  for (const ev of service.list(events, undefined).items) {
    if (now - lastSeen(ev) < ttlMs) continue;
    service.delete(events, ev.metadata?.namespace, ev.metadata!.name!);
    removed++;
  }
  return removed;
}

/** Sweeps every `min(ttl, 10 min)`; returns the stop function. */
export function startEventExpiry(service: ObjectService, ttlSeconds: number, log: Logger): () => void {
  const ttlMs = ttlSeconds * 1000;
  const timer = setInterval(() => {
    try {
      const removed = sweepExpiredEvents(service, ttlMs);
      if (removed) log.debug({ removed }, 'expired events removed');
    } catch (err) {
      log.warn({ err }, 'event expiry sweep failed');
    }
  }, Math.min(ttlMs, 600_000));
  timer.unref();
  return () => clearInterval(timer);
}
