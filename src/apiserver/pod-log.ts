import { open, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { podLogPath } from '../node/layout.ts';
import type { KindInfo, KubeObject } from './kinds.ts';
import type { ObjectService } from './objects.ts';
import { badRequest } from './status.ts';

/**
 * `GET pods/<name>/log`: serves the file the local node agent writes for each container,
 * `<dataDir>/pods/<ns>/<pod>/<container>.log` (`.previous.log` for `?previous=true`; the
 * convention lives in src/node/layout.ts). `follow` tails it until the pod finishes or goes away.
 */
export interface LogParams {
  container: string | null;
  follow: boolean;
  previous: boolean;
  tailLines: number | undefined;
  limitBytes: number | undefined;
}

const FollowPollMs = 250;

function containerOf(pod: KubeObject, requested: string | null): string {
  const name = pod.metadata?.name ?? '';
  const spec = pod.spec as { containers?: Array<{ name: string }>; initContainers?: Array<{ name: string }> } | undefined;
  const names = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].map((c) => c.name);
  if (requested) {
    if (!names.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${name}`);
    return requested;
  }
  if (spec?.containers?.length === 1) return spec.containers[0]!.name;
  throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`);
}

function lastLines(text: Buffer, n: number): Buffer {
  let end = text.length;
  if (end > 0 && text[end - 1] === 0x0a) end--;
  let idx = end;
  for (let found = 0; found < n; found++) {
    idx = text.lastIndexOf(0x0a, idx - 1);
    if (idx < 0) return text;
  }
  return text.subarray(idx + 1);
}

async function readFrom(file: string, offset: number): Promise<Buffer> {
  const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!fh) return Buffer.alloc(0);
  try {
    const { size } = await fh.stat();
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export async function servePodLog(
  service: ObjectService,
  pods: KindInfo,
  dataDir: string,
  namespace: string,
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
  p: LogParams,
): Promise<void> {
  const pod = service.get(pods, namespace, name);
  const container = containerOf(pod, p.container);
  const file = podLogPath(dataDir, namespace, name, container, p.previous);
  let head = await readFrom(file, 0);
  let offset = head.length;
  if (p.tailLines !== undefined) head = lastLines(head, p.tailLines);
  if (p.limitBytes !== undefined) head = head.subarray(0, p.limitBytes);
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.write(head);
  if (!p.follow || p.previous) {
    res.end();
    return;
  }
  let closed = false;
  req.on('close', () => (closed = true));
  while (!closed) {
    await new Promise((r) => setTimeout(r, FollowPollMs));
    const current = service.find(pods, namespace, name);
    const finished = !current || current.metadata?.uid !== pod.metadata?.uid || ['Succeeded', 'Failed'].includes(String((current.status as { phase?: string })?.phase));
    const size = await stat(file).then((s) => s.size, () => 0);
    if (size < offset) offset = 0;
    const more = await readFrom(file, offset);
    offset += more.length;
    if (more.length) res.write(more);
    if (finished) break;
  }
  res.end();
}
