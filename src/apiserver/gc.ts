import type { Logger } from '../api/logger.ts';
import { kinds, resourceKey, type KindInfo, type KubeObject, type ObjectMeta } from './kinds.ts';
import { ForegroundFinalizer, OrphanFinalizer, type ObjectService } from './objects.ts';
import { ApiError } from './status.ts';
import type { ChangeEvent } from './watch-hub.ts';

/**
 * The garbage collector: deletes dependents whose owners are all gone (background), deletes
 * dependents first and then the owner (foreground, the `foregroundDeletion` finalizer), strips
 * owner references for `orphan`, and empties terminating namespaces before removing them.
 * It follows the watch stream and works off a queue, so writes never recurse into each other.
 */
interface Entry {
  info: KindInfo;
  namespace: string;
  name: string;
  owners: string[];
}

const byResource = new Map(kinds.map((k) => [resourceKey(k), k]));
const namespaceKind = kinds.find((k) => k.kind === 'Namespace')!;

export class GarbageCollector {
  private readonly objects = new Map<string, Entry>();
  private readonly dependents = new Map<string, Set<string>>();
  private readonly queue: Array<() => void> = [];
  private scheduled = false;
  private readonly service: ObjectService;
  private readonly log: Logger;
  private readonly unsubscribe: () => void;

  constructor(service: ObjectService, log: Logger) {
    this.service = service;
    this.log = log;
    for (const row of service.store.all()) {
      const info = byResource.get(row.resource);
      if (info) this.track(info, JSON.parse(row.json) as KubeObject);
    }
    this.unsubscribe = service.hub.subscribe((e) => this.observe(e));
    // Finish what a previous run left: orphans of deleted owners, owners and namespaces mid-deletion.
    for (const uid of [...this.dependents.keys()]) if (!this.objects.has(uid)) this.enqueue(() => this.collectDependentsOf(uid));
    for (const [uid, entry] of this.objects) {
      const obj = this.service.find(entry.info, entry.namespace, entry.name);
      if (obj?.metadata?.deletionTimestamp) this.enqueue(() => this.advanceDeletion(uid));
    }
  }

  close(): void {
    this.unsubscribe();
    this.queue.length = 0;
  }

  private track(info: KindInfo, obj: KubeObject): void {
    const meta = obj.metadata as ObjectMeta;
    const uid = meta.uid!;
    this.untrack(uid);
    const owners = (meta.ownerReferences ?? []).map((r) => r.uid);
    this.objects.set(uid, { info, namespace: meta.namespace ?? '', name: meta.name!, owners });
    for (const o of owners) {
      let set = this.dependents.get(o);
      if (!set) this.dependents.set(o, (set = new Set()));
      set.add(uid);
    }
  }

  private untrack(uid: string): Entry | undefined {
    const entry = this.objects.get(uid);
    if (!entry) return undefined;
    this.objects.delete(uid);
    for (const o of entry.owners) {
      const set = this.dependents.get(o);
      set?.delete(uid);
      if (set?.size === 0) this.dependents.delete(o);
    }
    return entry;
  }

  private observe(e: ChangeEvent): void {
    const info = byResource.get(e.resource);
    if (!info) return;
    const obj = e.object ?? (JSON.parse(e.json) as KubeObject);
    const uid = obj.metadata?.uid;
    if (!uid) return;
    if (e.type === 'DELETED') {
      const entry = this.untrack(uid);
      if (this.dependents.has(uid)) this.enqueue(() => this.collectDependentsOf(uid));
      for (const owner of entry?.owners ?? []) this.enqueue(() => this.advanceDeletion(owner));
      if (info.namespaced) this.enqueue(() => this.advanceNamespace(e.namespace));
      return;
    }
    this.track(info, obj);
    if (obj.metadata?.deletionTimestamp) this.enqueue(() => this.advanceDeletion(uid));
  }

  private enqueue(task: () => void): void {
    this.queue.push(task);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    while (this.queue.length) {
      const task = this.queue.shift()!;
      try {
        task();
      } catch (err) {
        // A concurrent writer won (404/409): the watch event of that write re-queues the work.
        if (!(err instanceof ApiError && (err.code === 404 || err.code === 409))) this.log.error({ err }, 'garbage collection step failed');
      }
    }
  }

  private load(uid: string): { entry: Entry; obj: KubeObject } | undefined {
    const entry = this.objects.get(uid);
    const obj = entry && this.service.find(entry.info, entry.namespace, entry.name);
    return entry && obj ? { entry, obj } : undefined;
  }

  /** Background collection: a dependent goes once none of its owners exists any more. */
  private collectDependentsOf(ownerUid: string): void {
    if (this.objects.has(ownerUid)) return;
    for (const dep of [...(this.dependents.get(ownerUid) ?? [])]) {
      const d = this.load(dep);
      if (!d || d.entry.owners.some((o) => this.objects.has(o)) || d.obj.metadata?.deletionTimestamp) continue;
      this.service.delete(d.entry.info, d.entry.namespace, d.entry.name, { propagationPolicy: 'Background' });
    }
  }

  private removeFinalizer(entry: Entry, obj: KubeObject, finalizer: string): void {
    const finalizers = (obj.metadata?.finalizers ?? []).filter((f) => f !== finalizer);
    this.service.update(entry.info, entry.namespace, entry.name, { ...obj, metadata: { ...obj.metadata, finalizers } });
  }

  private advanceDeletion(uid: string): void {
    const loaded = this.load(uid);
    if (!loaded || !loaded.obj.metadata?.deletionTimestamp) return;
    const { entry, obj } = loaded;
    const finalizers = obj.metadata?.finalizers ?? [];
    const deps = [...(this.dependents.get(uid) ?? [])];
    if (finalizers.includes(OrphanFinalizer)) {
      for (const dep of deps) {
        const d = this.load(dep);
        if (!d) continue;
        const ownerReferences = (d.obj.metadata?.ownerReferences ?? []).filter((r) => r.uid !== uid);
        this.service.update(d.entry.info, d.entry.namespace, d.entry.name, { ...d.obj, metadata: { ...d.obj.metadata, ownerReferences } });
      }
      this.removeFinalizer(entry, obj, OrphanFinalizer);
    } else if (finalizers.includes(ForegroundFinalizer)) {
      if (deps.length === 0) return this.removeFinalizer(entry, obj, ForegroundFinalizer);
      for (const dep of deps) {
        const d = this.load(dep);
        if (d && !d.obj.metadata?.deletionTimestamp) this.service.delete(d.entry.info, d.entry.namespace, d.entry.name, { propagationPolicy: 'Foreground' });
      }
    } else if (entry.info.kind === 'Namespace') this.advanceNamespace(entry.name);
  }

  /** A terminating namespace: delete what is in it; once empty (and unfinalized), remove it. */
  private advanceNamespace(name: string): void {
    const ns = this.service.find(namespaceKind, undefined, name);
    if (!ns?.metadata?.deletionTimestamp) return;
    let remaining = 0;
    for (const info of kinds) {
      if (!info.namespaced || info.createOnly) continue;
      for (const obj of this.service.list(info, name).items) {
        remaining++;
        if (!obj.metadata?.deletionTimestamp) this.service.delete(info, name, obj.metadata!.name!, { propagationPolicy: 'Background' });
      }
    }
    if (remaining === 0 && !ns.metadata.finalizers?.length) this.service.remove(namespaceKind, ns);
  }
}
