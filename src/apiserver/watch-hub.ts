import { CdiError } from '../api/errors.ts';
import { silentLogger, type Logger } from '../api/logger.ts';
import type { KubeObject } from './kinds.ts';

/**
 * The window of recent changes that watches replay from. Like etcd's compaction, events older
 * than the window are gone: a watch asking for them gets 410 Expired and must relist.
 * Events keep the serialized object so the window costs its JSON size, not a parsed tree.
 */
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ChangeEvent {
  type: EventType;
  rv: number;
  resource: string;
  namespace: string;
  name: string;
  json: string;
  /** Only on live delivery; replays parse `json`. */
  object?: KubeObject;
  /** MODIFIED only: the state before, so selector watches see objects enter and leave. */
  prevJson?: string;
  previous?: KubeObject;
}

export type Listener = (event: ChangeEvent) => void;

export class WatchHub {
  private events: ChangeEvent[] = [];
  private readonly listeners = new Set<Listener>();
  /** Every event with rv greater than this is still in the window. */
  private compactedRv: number;
  private readonly windowSize: number;
  private readonly windowBytes: number;
  private bytes = 0;

  private readonly log: Logger;

  /** Keeps at least `windowSize` events unless they exceed `windowBytes` of JSON. */
  constructor(startRv: number, windowSize: number, windowBytes = 8 * 1024 * 1024, log: Logger = silentLogger) {
    this.compactedRv = startRv;
    this.windowSize = windowSize;
    this.windowBytes = windowBytes;
    this.log = log;
  }

  publish(event: ChangeEvent): void {
    this.events.push({ ...event, object: undefined, previous: undefined });
    this.bytes += event.json.length + (event.prevJson?.length ?? 0);
    // Compact in steps (at twice the window) so publishing stays amortized O(1).
    if (this.events.length > this.windowSize * 2 || this.bytes > this.windowBytes * 2) {
      let drop = 0;
      while (drop < this.events.length - 1 && (this.events.length - drop > this.windowSize || this.bytes > this.windowBytes)) {
        this.bytes -= this.events[drop]!.json.length + (this.events[drop]!.prevJson?.length ?? 0);
        drop++;
      }
      this.compactedRv = this.events[drop - 1]!.rv;
      this.events = this.events.slice(drop);
    }
    // The write is committed: a listener that fails is logged and skipped, never the others.
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (cause) {
        const err = new CdiError('CDI_ERR_EVENT_HANDLER', ['watch', `${event.type} ${event.resource} ${event.namespace}/${event.name}: ${String(cause)}`], { cause });
        this.log.error({ code: err.code, err }, err.message);
      }
    }
  }

  /** The oldest resourceVersion a watch may start from. */
  get oldestRv(): number {
    return this.compactedRv;
  }

  /** Events of one resource after `rv`, or undefined when `rv` is older than the window. */
  since(rv: number, resource: string): ChangeEvent[] | undefined {
    if (rv < this.compactedRv) return undefined;
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.events[mid]!.rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.events.slice(lo).filter((e) => e.resource === resource);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
