// Deferred deletion of replaced blobs: a blob goes after a grace period and once no open reader pins it.

/** Default grace: readers between a record lookup and the blob open, in this process. */
export const RETIRE_GRACE_MS = 30_000;

export class BlobRetirer {
  private pins = new Map<string, number>();
  private retiring = new Set<string>();
  private timers = new Set<NodeJS.Timeout>();

  /** remove: deletes blobs by name, best effort (a blob left behind keeps its dead-blob row: the next sweep or start-up removes it). */
  constructor(
    private readonly remove: (names: string[]) => void,
    private readonly graceMs = RETIRE_GRACE_MS,
  ) {}

  /** Marks blobs as being read (one count per call); unpin when the reader is done. */
  pin(names: string[]): void {
    for (const p of names) this.pins.set(p, (this.pins.get(p) ?? 0) + 1);
  }

  isPinned(name: string): boolean {
    return this.pins.has(name);
  }

  unpin(names: string[]): void {
    const free: string[] = [];
    for (const p of names) {
      const n = (this.pins.get(p) ?? 1) - 1;
      if (n > 0) {
        this.pins.set(p, n);
        continue;
      }
      this.pins.delete(p);
      if (this.retiring.delete(p)) free.push(p);
    }
    if (free.length) this.remove(free);
  }

  /** Deletes blobs after the grace period (readers between lookup and open), or later, when the last reader unpins them. */
  retire(names: string[]): void {
    if (!names.length) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      const free: string[] = [];
      for (const p of names) {
        if (this.pins.has(p)) this.retiring.add(p);
        else free.push(p);
      }
      if (free.length) this.remove(free);
    }, this.graceMs);
    t.unref();
    this.timers.add(t);
  }

  /** Stops the pending deletions: their blobs stay, unreferenced, until the next load of their bucket. */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
