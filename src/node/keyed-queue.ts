import type { Logger } from '../api/logger.ts';

/**
 * Runs one handler per key at a time; a key enqueued while its handler runs runs once more
 * afterwards (never twice in parallel, never lost). A failing handler is retried after `retryMs`.
 */
export class KeyedQueue {
  private readonly state = new Map<string, { again: boolean }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly idle = new Set<() => void>();
  private closed = false;
  private readonly handler: (key: string) => Promise<void>;
  private readonly logger: Logger;
  private readonly retryMs: number;

  constructor(handler: (key: string) => Promise<void>, logger: Logger, retryMs = 1000) {
    this.handler = handler;
    this.logger = logger;
    this.retryMs = retryMs;
  }

  enqueue(key: string): void {
    if (this.closed) return;
    const s = this.state.get(key);
    if (s) {
      s.again = true;
      return;
    }
    this.state.set(key, { again: false });
    void this.run(key);
  }

  enqueueAfter(key: string, ms: number): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.enqueue(key);
    }, ms);
    this.timers.add(t);
  }

  /** Stops taking work and waits for running handlers to finish. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.state.size === 0) return;
    await new Promise<void>((resolve) => this.idle.add(resolve));
  }

  private async run(key: string): Promise<void> {
    for (;;) {
      try {
        await this.handler(key);
      } catch (err) {
        this.logger.warn({ code: 'CDI_ERR_NODE_SYNC', err, key }, 'sync failed; retrying');
        this.enqueueAfter(key, this.retryMs);
      }
      const s = this.state.get(key);
      if (!s?.again || this.closed) break;
      s.again = false;
    }
    this.state.delete(key);
    if (this.state.size === 0) for (const resolve of this.idle) resolve();
  }
}
