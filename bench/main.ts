// `npm run bench`: bench/run.ts (throughput per encryption mode, client-side encryption), or with
// `--scale N` bench/scale.ts (one bucket of N keys: memory, listing, HEAD, 4 KiB PUTs vs s3rver).
if (process.argv.slice(2).some((a) => a === '--scale' || a.startsWith('--scale='))) await import('./scale.ts');
else await import('./run.ts');
