import { describe, expect, it } from 'vitest';
import { createUploadProgress } from './progress.ts';

describe('upload progress without a terminal', () => {
  it('prints a plain line per tenth of the file, from the resume offset on', () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const progress = createUploadProgress(stream);
    const MiB = 1024 * 1024;
    progress.start(100 * MiB, 55 * MiB);
    for (let sent = 55 * MiB; sent <= 100 * MiB; sent += MiB) progress.update(sent);
    progress.stop();
    expect(lines[0]).toBe('Sending 45.00 MiB from byte 57671680\n');
    expect(lines.slice(1)).toEqual([60, 70, 80, 90, 100].map((p) => `Sent ${p}.00 MiB of 100.00 MiB (${p}%)\n`));
  });
});
