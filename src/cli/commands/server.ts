// `kura server`: runs the S3 endpoint (HTTP + HTTPS) and the KMS on the embedded store (LMDB metadata +
// blob files in the data dir), or with blobs in an S3-compatible store (--backend s3) and, for several
// nodes, the metadata in PostgreSQL (--meta postgres://…).
import { Option, type Command } from 'commander';
import type { ServerOptions } from '../../server/config.ts';
import type { KmsListener } from '../../kms/server.ts';

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('run the S3 server')
    .option('--data <dir>', 'data directory', './data')
    .option('--address <host:port>', "HTTP listener ('off' to disable)", '127.0.0.1:9000')
    .option('--tls-address <host:port>', "HTTPS listener ('off' to disable)", '127.0.0.1:9443')
    .option('--tls-cert <file>', 'PEM certificate (default: self-signed, generated into <data>/.kura/)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--domain <domain>', 'domain for virtual-host-style requests (<bucket>.<domain>)', 'localhost')
    .option('--region <region>', 'region reported by the server', 'us-east-1')
    .option('--allow-insecure-ssec', 'accept SSE-C (customer keys) and requests naming SSE-KMS over plain HTTP', false)
    .option('--kms-address <host:port>', 'also serve the KMS API on a listener of its own (it is always served on the S3 ports)')
    .option(
      '--backend <fs|s3>',
      "where objects are stored: 'fs' (the data dir; default) or 's3' (gateway to an S3-compatible store) [env KURA_BACKEND]",
    )
    .option('--backend-endpoint <url>', 'gateway: upstream S3 endpoint URL (default: AWS S3) [env KURA_BACKEND_ENDPOINT]')
    .option('--backend-bucket <name>', "gateway: the upstream bucket holding all of Kura's buckets [env KURA_BACKEND_BUCKET]")
    .option('--backend-prefix <prefix>', 'gateway: key prefix inside the upstream bucket [env KURA_BACKEND_PREFIX]')
    .option('--backend-region <region>', 'gateway: upstream region (default AWS_REGION or us-east-1) [env KURA_BACKEND_REGION]')
    .option('--backend-ca-bundle <file>', 'gateway: PEM CA certificates to trust for an HTTPS upstream [env KURA_BACKEND_CA_BUNDLE]')
    .option(
      '--meta <lmdb|url>',
      "metadata engine: 'lmdb' (embedded, default) or postgres://user:pw@host/db (several nodes; needs --backend s3) [env KURA_META_URL]",
    )
    // `npm run bench` only: its 'plain' baseline server stores objects UNENCRYPTED. Not in --help, and
    // honoured only together with KURA_BENCH_PLAINTEXT_BASELINE=1, so neither alone can turn encryption off.
    .addOption(new Option('--bench-plaintext-baseline').hideHelp())
    .action(
      async (o: {
        benchPlaintextBaseline?: boolean;
        data: string;
        address: string;
        tlsAddress: string;
        tlsCert?: string;
        tlsKey?: string;
        domain: string;
        region: string;
        allowInsecureSsec: boolean;
        kmsAddress?: string;
        meta?: string;
        backend?: string;
        backendEndpoint?: string;
        backendBucket?: string;
        backendPrefix?: string;
        backendRegion?: string;
        backendCaBundle?: string;
      }) => {
        // Loaded here rather than at start-up: the client commands (cp, ls, …) start faster without the server.
        const [
          { loadConfig, loadRootKey, parseAddress },
          { createLogger, singleUserLookup, startServer },
          { describeBackend, metaStoreFactory, verifyRootKey },
          { openServerKms, startKmsListener },
        ] = await Promise.all([
          import('../../server/config.ts'),
          import('../../server/server.ts'),
          import('../../storage/open-backend.ts'),
          import('../../kms/server.ts'),
        ]);
        const logger = createLogger();
        const baselineEnv = process.env.KURA_BENCH_PLAINTEXT_BASELINE === '1';
        if (o.benchPlaintextBaseline && !baselineEnv) {
          process.stderr.write('kura server: --bench-plaintext-baseline needs KURA_BENCH_PLAINTEXT_BASELINE=1 (benchmark use only)\n');
          process.exit(2);
        }
        if (baselineEnv && !o.benchPlaintextBaseline)
          logger.warn('KURA_BENCH_PLAINTEXT_BASELINE is ignored without its benchmark-only flag: objects are encrypted');
        const plaintextBaseline = baselineEnv && o.benchPlaintextBaseline === true;
        const opts: ServerOptions = {
          dataDir: o.data,
          address: o.address,
          tlsAddress: o.tlsAddress,
          domain: o.domain,
          region: o.region,
          allowInsecureSsec: o.allowInsecureSsec,
        };
        if (o.tlsCert) opts.tlsCert = o.tlsCert;
        if (o.tlsKey) opts.tlsKey = o.tlsKey;
        if (o.backend !== undefined) opts.backend = o.backend;
        if (o.backendEndpoint !== undefined) opts.backendEndpoint = o.backendEndpoint;
        if (o.backendBucket !== undefined) opts.backendBucket = o.backendBucket;
        if (o.backendPrefix !== undefined) opts.backendPrefix = o.backendPrefix;
        if (o.backendRegion !== undefined) opts.backendRegion = o.backendRegion;
        if (o.backendCaBundle !== undefined) opts.backendCaBundle = o.backendCaBundle;
        if (o.meta !== undefined) opts.meta = o.meta;
        let config;
        try {
          config = await loadConfig(opts);
        } catch (e) {
          process.stderr.write(`kura server: ${e instanceof Error ? e.message : String(e)}\n`);
          process.exit(2);
        }
        if (config.credentialsGenerated) {
          // Shown once, on the console only (never in the JSON log); kept in the data dir with mode 0600.
          process.stderr.write(
            `\nGenerated credentials (saved in ${config.credentialsPath}):\n` +
              `  AWS_ACCESS_KEY_ID=${config.credentials.accessKeyId}\n` +
              `  AWS_SECRET_ACCESS_KEY=${config.credentials.secretAccessKey}\n\n`,
          );
        }
        let server;
        let kms;
        let kmsListener: KmsListener | undefined;
        try {
          // One metadata store for the objects and the KMS key store (one LMDB env, or the nodes' shared database).
          const rootKey = await loadRootKey(config.dataDir);
          const meta = await metaStoreFactory(config)(config, rootKey);
          try {
            await verifyRootKey(meta, rootKey);
            kms = await openServerKms(config, meta, rootKey);
          } catch (e) {
            await meta.close();
            throw e;
          } finally {
            rootKey.fill(0);
          }
          server = await startServer(config, { logger, kms, meta, plaintextBaseline });
          if (o.kmsAddress) {
            kmsListener = await startKmsListener(kms, {
              address: parseAddress(o.kmsAddress),
              lookupSecret: singleUserLookup(config),
              region: config.region,
              logger,
            });
          }
        } catch (e) {
          process.stderr.write(`kura server: cannot start: ${e instanceof Error ? e.message : String(e)}\n`);
          process.exit(1);
        }
        logger.info(
          {
            http: server.http,
            https: server.https,
            kms: kmsListener?.address,
            dataDir: config.dataDir,
            backend: describeBackend(config),
            caPath: config.tls?.certPath,
            certGenerated: config.tls?.generated || undefined,
            accessKeyId: config.credentials.accessKeyId,
          },
          'listening',
        );
        if (config.tls?.generated)
          process.stderr.write(
            `Self-signed TLS certificate: ${config.tls.certPath}\n  trust it with AWS_CA_BUNDLE=${config.tls.certPath}\n`,
          );
        let stopping = false;
        const stop = (signal: string): void => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal }, 'shutting down');
          Promise.all([server.close(), kmsListener?.close()])
            .then(() => kms.close())
            .then(
              () => {
                logger.info('stopped');
                logger.flush?.();
                process.exit(0);
              },
              (e: unknown) => {
                logger.error({ err: String(e) }, 'shutdown failed');
                process.exit(1);
              },
            );
        };
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGTERM', () => stop('SIGTERM'));
      },
    );
}
