// The peer for the 4 KiB PUT comparison: s3rver (npm, a fake S3 server on the filesystem; it neither
// encrypts nor fsyncs) in a process of its own, as Kura runs in one. Prints {"port":N} when listening.
//   node bench/s3rver-child.mjs <directory>
import S3rver from 's3rver';

const directory = process.argv[2];
if (!directory) throw new Error('usage: s3rver-child.mjs <directory>');
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: 'bench' }] });
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
