/** Counts source and written bytes and reports them at least every second while bytes flow. */
import type { ProgressEvent } from './contracts.ts';

const intervalMs = 500;

export class ProgressMeter {
  sourceBytes = 0;
  writtenBytes = 0;
  readonly #total: number | undefined;
  readonly #listener: ((e: ProgressEvent) => void) | undefined;
  #stage = 'detect';
  #timer: NodeJS.Timeout | undefined;

  constructor(total: number | undefined, listener: ((e: ProgressEvent) => void) | undefined) {
    this.#total = total;
    this.#listener = listener;
    if (listener) {
      this.#timer = setInterval(() => this.#emit(), intervalMs);
      this.#timer.unref();
    }
  }

  stage(name: string): void {
    this.#stage = name;
    this.#emit();
  }

  stop(finalStage: string): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.stage(finalStage);
  }

  #emit(): void {
    this.#listener?.({ stage: this.#stage, sourceBytes: this.sourceBytes, sourceTotal: this.#total, writtenBytes: this.writtenBytes });
  }
}
