import net from 'node:net';
import { CdiError } from '../api/errors.ts';

/** A port on 127.0.0.1 nobody listens on right now: `preferred` when it is free, else one the kernel picks. */
export async function freePort(preferred?: number): Promise<number> {
  if (preferred !== undefined) {
    const got = await tryListen(preferred);
    if (got !== undefined) return got;
  }
  const any = await tryListen(0);
  if (any === undefined) throw new CdiError('CDI_ERR_INTERNAL', ['no free port on 127.0.0.1']);
  return any;
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(p));
    });
  });
}
