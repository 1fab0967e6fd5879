// Per-key promise chains: both backends serialize the writes to one bucket, key or upload this way.
export class KeyedLock {
  private tails = new Map<string, Promise<unknown>>();

  /** Runs fn after every earlier run under id has settled (whether it failed or not). */
  async run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.tails.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    }
  }

  clear(): void {
    this.tails.clear();
  }
}
