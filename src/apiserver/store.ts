import { DatabaseSync, type StatementSync } from 'node:sqlite';

/**
 * The generic object store: one table of (resource, namespace, name, rv, json) in SQLite, and one
 * global resourceVersion counter advanced by every write. Each write is its own transaction,
 * committed (WAL, synchronous=FULL) before the caller replies; see docs/adr for why.
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
  private rv: number;

  constructor(path: string) {
    this.db = new DatabaseSync(path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS objects (
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        rv INTEGER NOT NULL, json TEXT NOT NULL,
        PRIMARY KEY (resource, namespace, name)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
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
  }

  /** The resourceVersion of the last committed write. */
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
   * Runs one write in a transaction: `write` receives the next resourceVersion and performs
   * insert/replace/remove through the given ops. Returns only after COMMIT.
   */
  write<T>(fn: (rv: number, ops: WriteOps) => T): T {
    const next = this.rv + 1;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn(next, this.ops);
      this.stmts.bump.run(next);
      this.db.exec('COMMIT');
      this.rv = next;
      return result;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private readonly ops: WriteOps = {
    insert: (o) => void this.stmts.insert.run(o.resource, o.namespace, o.name, o.rv, o.json),
    replace: (o) => void this.stmts.update.run(o.rv, o.json, o.resource, o.namespace, o.name),
    remove: (resource, namespace, name) => void this.stmts.remove.run(resource, namespace, name),
  };

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}

export interface WriteOps {
  insert(o: StoredObject): void;
  replace(o: StoredObject): void;
  remove(resource: string, namespace: string, name: string): void;
}
