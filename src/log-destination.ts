import fs from 'node:fs';

type WriteSync = (fd: number, buffer: Uint8Array, offset: number) => number;

/**
 * Where the process's log lines go: one synchronous write per line, never retried. A log that
 * cannot be written (EPIPE after the reader died, EAGAIN on a full non-blocking pipe, ENOSPC on
 * a full disk) loses the line, counted, instead of blocking or killing the process that logs;
 * pino's own destination sleeps and retries EAGAIN forever and throws ENOSPC out of the process.
 * The first line written after a loss says how many went missing.
 */
export class DroppingDestination {
  readonly #fd: number;
  readonly #writeSync: WriteSync;
  /** Lines lost since the process started. */
  dropped = 0;
  #unreported = 0;
  // A write cut short leaves half a line out there; the next one starts on a fresh line.
  #midLine = false;

  constructor(fd = 1, writeSync: WriteSync = (f, b, o) => fs.writeSync(f, b, o)) {
    this.#fd = fd;
    this.#writeSync = writeSync;
  }

  write(line: string): void {
    if (this.#unreported > 0) {
      const notice = JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, msg: 'log lines dropped: the log could not be written', dropped: this.#unreported });
      if (!this.#put(`${notice}\n`)) {
        this.#lose();
        return;
      }
      this.#unreported = 0;
    }
    if (!this.#put(line)) this.#lose();
  }

  #lose(): void {
    this.dropped++;
    this.#unreported++;
  }

  #put(line: string): boolean {
    const buf = Buffer.from(this.#midLine ? `\n${line}` : line);
    let offset = 0;
    try {
      while (offset < buf.length) offset += this.#writeSync(this.#fd, buf, offset);
      this.#midLine = false;
      return true;
    } catch {
      if (offset > 0) this.#midLine = true;
      return false;
    }
  }
}
