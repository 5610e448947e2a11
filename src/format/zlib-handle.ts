/**
 * One node:zlib engine driven synchronously through its handle (`_handle.writeSync`, the call
 * node:zlib's own `*Sync` functions make), into buffers the caller owns. The public functions
 * build a new engine and a new output buffer per call, and the Transform streams a new buffer
 * per chunk: on a disk image that is a large share of the time and a stream of garbage
 * (docs/adr/0017). Tests pin the internals this relies on; without them `open` throws.
 *
 * Self-contained (no imports, no module constants): the inflate pool sends this source to its
 * worker thread, which runs it as plain JavaScript.
 */

type ZlibKind = 'inflateRaw' | 'inflate' | 'gunzip' | 'zstd';

interface ZlibHandle {
  /** One step with a zlib/zstd flush flag: returns [output bytes produced, input bytes consumed]; throws what the codec reports. */
  write(flush: number, input: Uint8Array, inAt: number, inLength: number, out: Uint8Array, outAt: number, outLength: number): [number, number];
  /** Starts a new stream on the same engine. */
  reset(): void;
  close(): void;
}

/** The parts of a node:zlib engine this drives. */
interface Engine {
  _handle: {
    writeSync(flush: number, input: Uint8Array, inAt: number, inLength: number, out: Uint8Array, outAt: number, outLength: number): void;
    reset(): void;
    onerror: (message: string, errno: number, code?: string) => void;
  };
  /** [output bytes left, input bytes left] after the last write. */
  _writeState: Uint32Array;
  close(): void;
}

export function openZlibHandle(kind: ZlibKind): ZlibHandle {
  const zlib = process.getBuiltinModule('node:zlib');
  let engine: Engine | undefined;
  let failure: Error | undefined;
  const open = (): Engine => {
    const e = (kind === 'zstd' ? zlib.createZstdDecompress() : kind === 'gunzip' ? zlib.createGunzip() : kind === 'inflate' ? zlib.createInflate() : zlib.createInflateRaw()) as unknown as Engine;
    if (typeof e._handle?.writeSync !== 'function' || !(e._writeState instanceof Uint32Array)) {
      throw new Error('this Node.js does not expose the zlib handle the decoders drive');
    }
    e._handle.onerror = (message, errno, code) => { failure = Object.assign(new Error(message), { errno, code }); };
    return e;
  };
  return {
    write(flush, input, inAt, inLength, out, outAt, outLength) {
      const e = engine ?? (engine = open());
      e._handle.writeSync(flush, input, inAt, inLength, out, outAt, outLength);
      if (failure) {
        // an engine that reported an error is not used again
        const err = failure;
        failure = undefined;
        engine = undefined;
        e.close();
        throw err;
      }
      return [outLength - e._writeState[0]!, inLength - e._writeState[1]!];
    },
    reset() {
      engine?._handle.reset();
    },
    close() {
      engine?.close();
      engine = undefined;
    },
  };
}
