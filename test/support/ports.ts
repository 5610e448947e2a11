import net from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { eventually } from './eventually.ts';

/**
 * A free TCP port on 127.0.0.1, only for third-party servers that can neither bind port 0 nor
 * report what they bound (nginx, docker-registry). Our own processes take port 0 and log the
 * port they got: read it with reportedPort.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The port a process told to listen on port 0 reports: the `port` field of the first pino JSON
 * line on `stream` whose msg is `message`. Rejects if the stream ends first.
 */
export function reportedPort(stream: Readable, message: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    lines.on('line', (line) => {
      let entry: { msg?: unknown; port?: unknown };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      // The reader stays open (and drains the stream) so the process never blocks on a full pipe.
      if (entry.msg === message && typeof entry.port === 'number') resolve(entry.port);
    });
    lines.on('close', () => reject(new Error(`the process ended its output without logging "${message}" with a port`)));
  });
}

/** Resolves once something accepts TCP connections on the port (for the servers freePort is for). */
export async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  await eventually(accepts, `something listening on 127.0.0.1:${port}`, timeoutMs);
}

/** Established IPv4 TCP connections whose local end is `port` (from /proc/net/tcp, state 01). */
export async function establishedConnections(port: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const table = await readFile('/proc/net/tcp', 'utf8');
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return table
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(local) && f[3] === '01').length;
}
