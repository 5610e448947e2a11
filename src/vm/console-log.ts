import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The guest-console-log container (KubeVirt's virt-tail): copies the guest's serial console file
 * to stdout, so `kubectl logs POD -c guest-console-log` shows it, until the launcher marks the
 * guest gone (`<file>.done`) and the rest is copied, or the container is stopped.
 */
export async function followConsole(file: string, out: NodeJS.WritableStream, signal: AbortSignal, pollMs = 100): Promise<void> {
  let offset = 0;
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const done = fs.existsSync(`${file}.done`);
    const fh = await fs.promises.open(file, 'r').catch(() => undefined);
    if (fh) {
      try {
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
          if (bytesRead === 0) break;
          offset += bytesRead;
          if (!out.write(Buffer.from(buf.subarray(0, bytesRead)))) await new Promise((resolve) => out.once('drain', resolve));
        }
      } finally {
        await fh.close();
      }
    }
    if (done || signal.aborted) return;
    await sleep(pollMs, undefined, { signal }).catch(() => {});
  }
}
