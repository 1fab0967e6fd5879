// Coalesced directory fsyncs: many renames into one directory become durable with one fsync of it.
// A caller's rename is covered by an fsync that *starts* after the rename returned; so a caller arriving
// while one runs waits for it to end, then shares the next one with everyone else who arrived meanwhile.
import { fsyncDir } from './atomic.ts';

export class DirSync {
  private readonly dirs = new Map<string, { running: Promise<void>; next?: Promise<void> }>();

  /** Resolves once an fsync of dir that began after this call has completed. */
  sync(dir: string): Promise<void> {
    const s = this.dirs.get(dir);
    if (!s) return this.start(dir);
    // One already running may have begun before our rename: join (or create) the one queued after it.
    s.next ??= s.running.catch(() => {}).then(() => this.start(dir));
    return s.next;
  }

  private start(dir: string): Promise<void> {
    const running = fsyncDir(dir).finally(() => {
      const s = this.dirs.get(dir);
      if (s?.running !== running) return;
      if (s.next) {
        // The queued sync takes over (its start() replaces this entry).
        return;
      }
      this.dirs.delete(dir);
    });
    const s = this.dirs.get(dir);
    if (s) {
      s.running = running;
      s.next = undefined;
    } else this.dirs.set(dir, { running });
    return running;
  }
}
