import { closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { promisify } from 'node:util';
import { CdiError } from '../api/errors.ts';

const fdatasyncAsync = promisify(fdatasync);

/**
 * The generic object store: one table of (resource, namespace, name, rv, json) in SQLite, and one
 * global resourceVersion counter advanced by every write.
 *
 * Durability is group commit with the fsync off the event loop: writes made in one turn of the
 * event loop share a transaction (each write a savepoint, so a failing write rolls back alone);
 * the COMMIT appends to the WAL (synchronous=NORMAL), then an fdatasync of the WAL file runs on
 * libuv's thread pool while the next batch forms. Callers reply only after `settled()` and watch
 * events are released by `onCommit`, both after that fdatasync: nothing is acknowledged or
 * observed before it is on disk. See docs/adr/0012-apiserver-storage-sqlite.md.
 */
export interface StoredObject {
  resource: string;
  namespace: string;
  name: string;
  rv: number;
  json: string;
}

export interface ListRange {
  resource: string;
  namespace?: string;
  /** Exclusive lower bound on (namespace, name), for `continue`. */
  after?: { namespace: string; name: string };
}

export class ObjectStore {
  private readonly db: DatabaseSync;
  private readonly stmts: Record<
    'get' | 'insert' | 'update' | 'remove' | 'bump' | 'readRv' | 'listAll' | 'listAllAfter' | 'listNs' | 'listNsAfter' | 'everything',
    StatementSync
  >;
  /** The last resourceVersion handed out (durable, committed or in the open batch). */
  private rv: number;
  /** The last resourceVersion committed to the WAL, and the last one known to be on disk. */
  private committed: number;
  private durable: number;
  private batch: { callbacks: Array<() => void>; waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> } | undefined;
  /** Durability of the most recently committed batch; batches become durable in order. */
  private lastSync: Promise<void> = Promise.resolve();
  private readonly walFd: number;

  constructor(file: string) {
    this.db = new DatabaseSync(file);
    try {
      // One server per data dir: the first write takes an exclusive lock held until close.
      this.db.exec(`
      PRAGMA locking_mode = EXCLUSIVE;
      PRAGMA busy_timeout = 1000;
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      BEGIN IMMEDIATE;
      COMMIT;`);
    } catch (err) {
      this.db.close();
      const code = (err as { errcode?: number }).errcode;
      if (code === 5 || code === 6) throw new CdiError('CDI_ERR_DATA_DIR_IN_USE', [path.dirname(file)], { cause: err });
      throw err;
    }
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS objects (
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        rv INTEGER NOT NULL, json TEXT NOT NULL,
        PRIMARY KEY (resource, namespace, name)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS set_aside (
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        rv INTEGER NOT NULL, json TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL
      );
      INSERT OR IGNORE INTO meta (key, value) VALUES ('rv', 1);
    `);
    const cols = 'resource, namespace, name, rv, json';
    this.stmts = {
      get: this.db.prepare(`SELECT ${cols} FROM objects WHERE resource = ? AND namespace = ? AND name = ?`),
      insert: this.db.prepare('INSERT INTO objects (resource, namespace, name, rv, json) VALUES (?, ?, ?, ?, ?)'),
      update: this.db.prepare('UPDATE objects SET rv = ?, json = ? WHERE resource = ? AND namespace = ? AND name = ?'),
      remove: this.db.prepare('DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
      bump: this.db.prepare("UPDATE meta SET value = ? WHERE key = 'rv'"),
      readRv: this.db.prepare("SELECT value FROM meta WHERE key = 'rv'"),
      listAll: this.db.prepare(`SELECT ${cols} FROM objects WHERE resource = ? ORDER BY namespace, name`),
      listAllAfter: this.db.prepare(
        `SELECT ${cols} FROM objects WHERE resource = ? AND (namespace, name) > (?, ?) ORDER BY namespace, name`,
      ),
      listNs: this.db.prepare(`SELECT ${cols} FROM objects WHERE resource = ? AND namespace = ? ORDER BY name`),
      listNsAfter: this.db.prepare(`SELECT ${cols} FROM objects WHERE resource = ? AND namespace = ? AND name > ? ORDER BY name`),
      everything: this.db.prepare(`SELECT ${cols} FROM objects`),
    };
    this.rv = Number((this.stmts.readRv.get() as { value: number }).value);
    this.committed = this.rv;
    this.durable = this.rv;
    // The WAL exists from the first write above and keeps its inode while the database is open.
    this.walFd = openSync(`${file}-wal`, 'r');
    fdatasyncSync(this.walFd);
    const dir = openSync(path.dirname(file), 'r');
    fsyncSync(dir);
    closeSync(dir);
  }

  /** The resourceVersion of the last write (durable once `settled()` resolves). */
  get currentRv(): number {
    return this.rv;
  }

  get(resource: string, namespace: string, name: string): StoredObject | undefined {
    return this.stmts.get.get(resource, namespace, name) as StoredObject | undefined;
  }

  /** Lazily walks a resource in (namespace, name) order so `limit` stops early. */
  *list(range: ListRange): Generator<StoredObject> {
    const { resource, namespace, after } = range;
    const rows =
      namespace === undefined
        ? after
          ? this.stmts.listAllAfter.iterate(resource, after.namespace, after.name)
          : this.stmts.listAll.iterate(resource)
        : after
          ? this.stmts.listNsAfter.iterate(resource, namespace, after.name)
          : this.stmts.listNs.iterate(resource, namespace);
    for (const r of rows) yield r as unknown as StoredObject;
  }

  *all(): Generator<StoredObject> {
    for (const r of this.stmts.everything.iterate()) yield r as unknown as StoredObject;
  }

  /**
   * Moves a row nothing can read out of the objects into the `set_aside` table, where it stays
   * for inspection. Only before serving: it commits on its own, outside any batch.
   */
  setAside(row: StoredObject, reason: string): void {
    if (this.batch) throw new Error('setAside while a write batch is open');
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.db
        .prepare('INSERT INTO set_aside (resource, namespace, name, rv, json, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(row.resource, row.namespace, row.name, row.rv, row.json, reason, new Date().toISOString());
      this.stmts.remove.run(row.resource, row.namespace, row.name);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    fdatasyncSync(this.walFd);
  }

  /**
   * Runs one write: `fn` receives the next resourceVersion and performs insert/replace/remove
   * through the given ops. The write joins the open batch, committed on the next turn.
   */
  write<T>(fn: (rv: number, ops: WriteOps) => T): T {
    if (!this.batch) {
      this.db.exec('BEGIN IMMEDIATE');
      this.batch = { callbacks: [], waiters: [] };
      setImmediate(() => this.flush());
    }
    const next = this.rv + 1;
    this.db.exec('SAVEPOINT write');
    try {
      const result = fn(next, this.ops);
      this.db.exec('RELEASE write');
      this.rv = next;
      return result;
    } catch (err) {
      this.db.exec('ROLLBACK TO write');
      this.db.exec('RELEASE write');
      throw err;
    }
  }

  /** Runs `cb` once the writes made so far are on disk (now, when none is pending). */
  onCommit(cb: () => void): void {
    if (this.batch) this.batch.callbacks.push(cb);
    else if (this.durable === this.rv) cb();
    else void this.lastSync.then(cb, () => {});
  }

  /** Resolves when every write made so far is on disk; rejects if their commit failed. */
  settled(): Promise<void> {
    const batch = this.batch;
    if (batch) return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
    return this.lastSync;
  }

  private flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    const rv = this.rv;
    try {
      this.stmts.bump.run(rv);
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      this.rv = this.committed;
      for (const w of batch.waiters) w.reject(err);
      return;
    }
    this.committed = rv;
    // One fdatasync covers every batch committed before it starts, so queued batches ride along.
    const sync = async (): Promise<void> => {
      if (this.durable >= rv) return;
      const covered = this.committed;
      await fdatasyncAsync(this.walFd);
      this.durable = Math.max(this.durable, covered);
    };
    this.lastSync = this.lastSync.catch(() => {}).then(sync).then(() => {
      for (const cb of batch.callbacks) cb();
      for (const w of batch.waiters) w.resolve();
    });
    this.lastSync.catch((err: unknown) => {
      for (const w of batch.waiters) w.reject(err);
    });
  }

  private readonly ops: WriteOps = {
    insert: (o) => void this.stmts.insert.run(o.resource, o.namespace, o.name, o.rv, o.json),
    replace: (o) => void this.stmts.update.run(o.rv, o.json, o.resource, o.namespace, o.name),
    remove: (resource, namespace, name) => void this.stmts.remove.run(resource, namespace, name),
  };

  /** Commits and syncs what is pending, then closes; acknowledged writes are already durable. */
  close(): void {
    if (!this.db.isOpen) return;
    this.flush();
    fdatasyncSync(this.walFd);
    closeSync(this.walFd);
    this.db.close();
  }
}

export interface WriteOps {
  insert(o: StoredObject): void;
  replace(o: StoredObject): void;
  remove(resource: string, namespace: string, name: string): void;
}
