import cliProgress from 'cli-progress';

export interface UploadProgress {
  start(total: number, offset: number): void;
  update(sent: number): void;
  stop(): void;
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}

/**
 * virtctl shows a byte bar (pb/v3) while the file is sent; the bar is for terminals only, so
 * logs and CI get a plain line every tenth of the file instead.
 */
export function createUploadProgress(stream: NodeJS.WriteStream): UploadProgress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: ' {bar} {percentage}% | {sentH} / {totalH} | {rate}/s', hideCursor: true, stream },
      cliProgress.Presets.shades_classic,
    );
    let started = 0;
    let base = 0;
    const payload = (sent: number, total: number) => {
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      return { sentH: human(sent), totalH: human(total), rate: human((sent - base) / seconds) };
    };
    let total = 0;
    return {
      start(t, offset) {
        total = t;
        started = Date.now();
        base = offset;
        bar.start(Math.max(t, 1), offset, payload(offset, t));
      },
      update(sent) {
        bar.update(sent, payload(sent, total));
      },
      stop() {
        bar.stop();
      },
    };
  }
  let total = 0;
  let nextTenth = 1;
  return {
    start(t, offset) {
      total = t;
      nextTenth = Math.floor((offset / Math.max(t, 1)) * 10) + 1;
      stream.write(`Sending ${human(t - offset)}${offset > 0 ? ` from byte ${offset}` : ''}\n`);
    },
    update(sent) {
      while (nextTenth <= 10 && sent >= (total * nextTenth) / 10) {
        stream.write(`Sent ${human(sent)} of ${human(total)} (${nextTenth * 10}%)\n`);
        nextTenth++;
      }
    },
    stop() {},
  };
}
