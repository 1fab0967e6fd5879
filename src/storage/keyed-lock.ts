// Per-key promise chains: the core backend serializes a node's own writes to one bucket, key or upload this way
// (an optimisation: the metadata transaction decides races, also between nodes).
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
