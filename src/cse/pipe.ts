// Chains streams into one duplex: writes go to the first stage, reads come from the last, and the first
// error of any stage destroys the whole chain with that error. Error listeners stay attached for the
// chain's life, so a stage that reports late (the ESDK's frame checks do) never goes unheard.
// The first stage may be a plain Readable (a response body): the chain is then only read from.
import { Duplex, type Readable } from 'node:stream';

class Chain extends Duplex {
  private readonly head: Duplex;
  private readonly tail: Readable;
  constructor(
    private readonly stages: Duplex[],
    mapError: (e: Error) => Error,
  ) {
    super();
    if (stages.length === 0) throw new Error('a pipeline needs at least one stage');
    this.head = stages[0]!;
    this.tail = stages[stages.length - 1]!;
    stages.forEach((stage, i) => {
      stage.on('error', (e: Error) => {
        if (!this.destroyed) this.destroy(mapError(e));
      });
      const next = stages[i + 1];
      if (next) stage.pipe(next);
    });
    this.tail.on('data', (d: Buffer) => {
      if (!this.push(d)) this.tail.pause();
    });
    this.tail.on('end', () => this.push(null));
    this.tail.on('close', () => {
      if (!this.tail.readableEnded && !this.destroyed) this.destroy(mapError(new Error('stream closed before its end')));
    });
  }
  override _read(): void {
    this.tail.resume();
  }
  override _write(chunk: Buffer, _e: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.head.write(chunk)) cb();
    else this.head.once('drain', () => cb());
  }
  override _final(cb: (e?: Error | null) => void): void {
    // Finishing waits for the last stage, so a failure at the very end (a tag check) fails the chain.
    if (this.tail.readableEnded) return cb();
    this.tail.once('end', () => cb());
    this.head.end();
  }
  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    for (const s of this.stages) if (!s.destroyed) s.destroy();
    cb(err);
  }
}

export function pipelineDuplex(...stages: Duplex[]): Duplex {
  return stages.length === 1 ? stages[0]! : new Chain(stages, (e) => e);
}

/** Wraps one duplex so its errors (however late) arrive as `mapError(e)` on a stream the caller owns. */
export function guarded(stage: Duplex, mapError: (e: Error) => Error): Duplex {
  return new Chain([stage], mapError);
}
