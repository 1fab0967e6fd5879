// Chains transforms into one duplex (an error in any stage fails the whole).
import * as stream from 'node:stream';
import type { Duplex } from 'node:stream';

// stream.compose exists since Node 16.9 but is missing from @types/node 20.
const compose = (stream as unknown as { compose: (...s: Duplex[]) => Duplex }).compose;

export function pipelineDuplex(...stages: Duplex[]): Duplex {
  return stages.length === 1 ? stages[0] : compose(...stages);
}
