import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiVersionOf, resourceKey, type KindInfo, type KubeObject } from './kinds.ts';
import type { ObjectService } from './objects.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { badRequest, gone } from './status.ts';
import { toTable } from './table.ts';
import type { ChangeEvent } from './watch-hub.ts';

/**
 * One watch stream: newline-delimited `{"type","object"}` events over a chunked response.
 * No resourceVersion (or "0") starts with the current state as ADDED events; a resourceVersion
 * replays the window after it, or answers an ERROR event with a 410 Expired Status when it has
 * been compacted away (client-go and client-node then relist). Bookmarks when asked for.
 */
export interface WatchParams {
  namespace: string | undefined;
  resourceVersion: string | null;
  labelSelector: string | null;
  fieldSelector: string | null;
  allowBookmarks: boolean;
  timeoutSeconds: number | undefined;
  table: boolean;
  bookmarkIntervalMs: number;
}

/**
 * How far a watcher may fall behind, in bytes buffered beyond its initial state, before it is
 * cut off, as kube-apiserver ends a watcher whose buffer is full: clients re-watch from their
 * last resourceVersion (or relist). Cutting means destroying the connection, so a stalled client
 * holds nothing once it is cut.
 */
export const MaxWatchBacklog = 1024 * 1024;
/**
 * An idle stream gets a bare newline this often: JSON stream decoders skip it, and it keeps
 * client-node's 30 s inactivity timeout from tearing down quiet informers.
 */
const HeartbeatMs = 15_000;

/**
 * An event's line, encoded once for every watcher it goes to: each watcher's buffer then holds a
 * reference to one Buffer, not its own copy of the object.
 */
const encodedLines = new WeakMap<ChangeEvent, Map<string, Buffer>>();

function sharedLine(e: ChangeEvent, type: string): Buffer {
  let byType = encodedLines.get(e);
  if (!byType) encodedLines.set(e, (byType = new Map()));
  let chunk = byType.get(type);
  if (!chunk) byType.set(type, (chunk = Buffer.from(`{"type":"${type}","object":${e.json}}\n`)));
  return chunk;
}

export function serveWatch(service: ObjectService, info: KindInfo, req: IncomingMessage, res: ServerResponse, p: WatchParams): void {
  const labels = parseLabelSelector(p.labelSelector);
  const fields = parseFieldSelector(p.fieldSelector);
  const resource = resourceKey(info);
  let startRv: number | undefined;
  if (p.resourceVersion && p.resourceVersion !== '0') {
    startRv = Number(p.resourceVersion);
    if (!Number.isSafeInteger(startRv) || startRv < 0) throw badRequest(`invalid resourceVersion: ${p.resourceVersion}`);
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache' });
  res.flushHeaders();

  const line = (type: string, json: string, obj: KubeObject | undefined, shared?: ChangeEvent): void => {
    if (res.destroyed) return stop();
    if (p.table && obj && type !== 'BOOKMARK') {
      res.write(`${JSON.stringify({ type, object: toTable(info, [obj], obj.metadata?.resourceVersion ?? '') })}\n`);
    } else res.write(shared ? sharedLine(shared, type) : `{"type":"${type}","object":${json}}\n`);
    if (res.writableLength > initialBacklog + MaxWatchBacklog) {
      stop();
      res.destroy();
    }
  };
  /** What the initial events left buffered: a client reading them is not behind. */
  let initialBacklog = Infinity;

  /** `live`: an event being published now, the same object for every watcher (replays are not). */
  const deliver = (e: ChangeEvent, live = true): void => {
    if (e.resource !== resource) return;
    if (info.namespaced && p.namespace !== undefined && e.namespace !== p.namespace) return;
    const obj = e.object ?? (JSON.parse(e.json) as KubeObject);
    const matches = (o: KubeObject) => labels(o) && fields(o);
    let type: string = e.type;
    if (e.type === 'MODIFIED' && e.prevJson !== undefined) {
      // As kube-apiserver does for selector watches: entering the selection is ADDED, leaving it DELETED.
      const before = matches(e.previous ?? (JSON.parse(e.prevJson) as KubeObject));
      const after = matches(obj);
      if (!before && !after) return;
      if (!before) type = 'ADDED';
      else if (!after) type = 'DELETED';
    } else if (!matches(obj)) return;
    line(type, e.json, p.table ? obj : undefined, live ? e : undefined);
  };

  const unsubscribe = service.hub.subscribe((e) => deliver(e));
  let bookmarkTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  const heartbeat = setInterval(() => (res.destroyed ? stop() : res.write('\n')), HeartbeatMs);
  let stopped = false;
  function stop(): void {
    if (stopped) return;
    stopped = true;
    unsubscribe();
    clearInterval(bookmarkTimer);
    clearInterval(heartbeat);
    clearTimeout(timeoutTimer);
    res.end();
  }
  req.on('close', stop);
  res.on('error', stop);

  if (startRv === undefined) {
    for (const obj of service.list(info, p.namespace).items) {
      if (labels(obj) && fields(obj)) line('ADDED', JSON.stringify(obj), p.table ? obj : undefined);
    }
  } else {
    const replay = service.hub.since(startRv, resource);
    if (!replay) {
      const status = gone(`too old resource version: ${startRv} (${service.hub.oldestRv})`).toStatus();
      line('ERROR', JSON.stringify(status), undefined);
      stop();
      return;
    }
    for (const e of replay) deliver(e, false);
  }
  initialBacklog = res.writableLength;
  if (p.allowBookmarks) {
    const bookmark = () =>
      line('BOOKMARK', JSON.stringify({ kind: info.kind, apiVersion: apiVersionOf(info), metadata: { resourceVersion: String(service.store.currentRv) } }), undefined);
    bookmarkTimer = setInterval(bookmark, p.bookmarkIntervalMs);
  }
  if (p.timeoutSeconds !== undefined && p.timeoutSeconds > 0) timeoutTimer = setTimeout(stop, p.timeoutSeconds * 1000);
}
