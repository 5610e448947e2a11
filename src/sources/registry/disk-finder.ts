import { CdiError } from '../../api/errors.ts';

/** `./disk/a.img` and `/disk/a.img` are `disk/a.img`. */
export function normalizeEntry(name: string): string {
  return name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
}

const opaqueMarker = '.wh..wh..opq';

function parentOf(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash < 0 ? '' : name.slice(0, slash);
}

function ancestors(name: string): string[] {
  const out: string[] = [];
  for (let p = parentOf(name); p; p = parentOf(p)) out.push(p);
  return out;
}

/**
 * Which tar entries of an image are visible, walking layers from the top down: a path an upper
 * layer has (or deleted with a `.wh.` whiteout, or hid with an opaque directory) is not visible
 * in the layers below. The disk is the one visible regular file under `disk/`.
 */
export class LayerView {
  private readonly hidden = new Set<string>();
  private readonly opaque = new Set<string>();
  private pendingHidden: string[] = [];
  private pendingOpaque: string[] = [];
  private disk: string | undefined;
  /** One exact path to find (a KubeVirt containerDisk's `path`) instead of the one file under disk/. */
  private readonly wanted: string | undefined;

  constructor(wanted?: string) {
    this.wanted = wanted === undefined ? undefined : normalizeEntry(wanted);
  }

  /** Call before each layer, top layer first. */
  startLayer(): void {
    for (const p of this.pendingHidden) this.hidden.add(p);
    for (const p of this.pendingOpaque) this.opaque.add(p);
    this.pendingHidden = [];
    this.pendingOpaque = [];
  }

  private covered(name: string): boolean {
    if (this.hidden.has(name)) return true;
    return ancestors(name).some((a) => this.hidden.has(a) || this.opaque.has(a)) || this.opaque.has('');
  }

  /**
   * Records one entry of the current layer. Returns true when it is the disk to import; throws
   * CDI's error when a second visible disk file appears.
   */
  entry(rawName: string, type: string): boolean {
    const name = normalizeEntry(rawName);
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (base === opaqueMarker) {
      this.pendingOpaque.push(parentOf(name));
      return false;
    }
    if (base.startsWith('.wh.')) {
      const dir = parentOf(name);
      this.pendingHidden.push(dir ? `${dir}/${base.slice(4)}` : base.slice(4));
      return false;
    }
    const visible = !this.covered(name);
    // A file replaces the path (and anything beneath it) below; directories merge.
    if (type !== 'directory') this.pendingHidden.push(name);
    const candidate = this.wanted === undefined ? name.startsWith('disk/') : name === this.wanted;
    if (!visible || !candidate || (type !== 'file' && type !== 'contiguous-file')) return false;
    if (this.disk !== undefined) throw new CdiError('CDI_ERR_REGISTRY_DISKS', [`${this.disk}, ${name}`]);
    this.disk = name;
    return true;
  }

  /** The disk found so far; throws CDI's "Failed to find VM disk image file" once every layer was read. */
  found(): string {
    if (this.disk === undefined) throw this.wanted === undefined ? new CdiError('CDI_ERR_REGISTRY_NO_DISK') : new CdiError('CDI_ERR_REGISTRY_NO_FILE', [`/${this.wanted}`]);
    return this.disk;
  }
}
