/**
 * Looks at the first bytes of a stream without losing them: the returned stream yields the
 * peeked chunks again, then the rest of the source.
 */
interface Peeked {
  /** At least `want` bytes, or every byte of the source when it is shorter. */
  readonly head: Uint8Array;
  readonly stream: AsyncIterable<Uint8Array>;
}

export async function peek(source: AsyncIterable<Uint8Array>, want: number): Promise<Peeked> {
  const iterator = source[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let have = 0;
  let ended = false;
  try {
    while (have < want) {
      const next = await iterator.next();
      if (next.done) {
        ended = true;
        break;
      }
      if (next.value.byteLength === 0) continue;
      chunks.push(next.value);
      have += next.value.byteLength;
    }
  } catch (err) {
    await iterator.return?.();
    throw err;
  }
  // a copy: the chunks go on downstream, where pooled ones are reused once consumed
  const head = Buffer.concat(chunks, have);
  return { head, stream: closable(replay(chunks, iterator, ended), iterator, ended) };
}

/**
 * The replayed stream, whose `return()` also stops the source when the replay never started:
 * a generator returned before its first `next()` skips its own `finally`, and the source (a
 * decompressor with a child process, say) would be left running.
 */
function closable(replayed: AsyncGenerator<Uint8Array>, source: AsyncIterator<Uint8Array>, ended: boolean): AsyncIterableIterator<Uint8Array> {
  let started = false;
  const self: AsyncIterableIterator<Uint8Array> = {
    [Symbol.asyncIterator]: () => self,
    next: () => {
      started = true;
      return replayed.next();
    },
    return: async () => {
      const result = await replayed.return(undefined);
      if (!started && !ended) await source.return?.();
      return result;
    },
  };
  return self;
}

async function* replay(
  chunks: Uint8Array[],
  iterator: AsyncIterator<Uint8Array>,
  ended: boolean,
): AsyncGenerator<Uint8Array> {
  let finished = ended;
  try {
    while (chunks.length > 0) yield chunks.shift()!;
    while (!finished) {
      const next = await iterator.next();
      if (next.done) finished = true;
      else if (next.value.byteLength > 0) yield next.value;
    }
  } finally {
    if (!finished) await iterator.return?.();
  }
}
