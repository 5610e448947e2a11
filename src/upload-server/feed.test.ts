import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ByteFeed } from './feed.ts';

const KiB = 1024;
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ByteFeed.pump (a request body into the engine feed)', () => {
  it('pauses the body while the queue is full and delivers every byte in order', async () => {
    const feed = new ByteFeed(64 * KiB);
    const body = new PassThrough();
    const pumped = feed.pump(body);
    const sent: number[] = [];
    for (let i = 0; i < 40; i++) {
      const chunk = Buffer.alloc(16 * KiB, i);
      sent.push(i);
      body.write(chunk);
    }
    body.end();
    await tick();
    // nobody reads yet: the body was paused once the queue held 64 KiB
    expect(body.isPaused()).toBe(true);
    expect(feed.accepted).toBeLessThanOrEqual(64 * KiB + 16 * KiB);
    const got: Buffer[] = [];
    const reading = (async () => {
      for await (const chunk of feed) got.push(Buffer.from(chunk));
    })();
    await pumped;
    feed.end();
    await reading;
    const all = Buffer.concat(got);
    expect(all.length).toBe(40 * 16 * KiB);
    expect(sent.every((i) => all[i * 16 * KiB] === i && all[(i + 1) * 16 * KiB - 1] === i)).toBe(true);
    expect(feed.accepted).toBe(all.length);
  });

  it('rejects when the body closes before its end (a cut-off client), leaving it undestroyed by the feed', async () => {
    const feed = new ByteFeed();
    const body = new PassThrough();
    const pumped = feed.pump(body);
    body.write(Buffer.alloc(1000));
    await tick();
    body.destroy();
    await expect(pumped).rejects.toThrow(/premature close/i);
    expect(feed.accepted).toBe(1000);
  });

  it('rejects at once when the engine fails while the body waits for room', async () => {
    const feed = new ByteFeed(32 * KiB);
    const body = new PassThrough();
    const pumped = feed.pump(body);
    body.write(Buffer.alloc(64 * KiB));
    await tick();
    expect(body.isPaused()).toBe(true);
    feed.fail(new Error('image refused'));
    await expect(pumped).rejects.toThrow('image refused');
    // paused, not destroyed: the server still answers on this request and drains it
    expect(body.destroyed).toBe(false);
    expect(body.isPaused()).toBe(true);
  });
});
