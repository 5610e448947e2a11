import fs from 'node:fs';
import { afterEach, expect, it, vi } from 'vitest';
import { startServe, type Serve } from '../support/serve.ts';

let serve: Serve | undefined;
afterEach(async () => {
  await serve?.stop();
  serve = undefined;
});

/** Pids of live processes whose command line holds every one of `parts`. */
function processesWith(...parts: string[]): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = readCmdline(entry);
    if (cmdline && parts.every((p) => cmdline.includes(p))) pids.push(Number(entry));
  }
  return pids;
}

function readCmdline(pid: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

it('the upload proxy process dies with cdi serve after a kill -9', async () => {
  serve = await startServe();
  const proxies = processesWith('uploadproxy/main.ts', serve.dataDir);
  expect(proxies).toHaveLength(1);
  await serve.kill9();
  await vi.waitFor(() => expect(processesWith('uploadproxy/main.ts', serve!.dataDir)).toEqual([]), { timeout: 10_000, interval: 50 });
});
