import { config as loadDotenv } from 'dotenv';
import { createApp, type App } from './app/createApp';
import { ConfigError, loadConfig } from './lib/config';
import { createLogger, scrubSecrets } from './lib/logger';

async function main(): Promise<void> {
  loadDotenv({ quiet: true });
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(
        `veobot cannot start.\n${scrubSecrets(error.message)}\nSee README.md, "Configuration", or copy .env.example to .env.\n`,
      );
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  let app: App;
  try {
    app = await createApp(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, 'veobot could not start');
    process.exit(1);
  }
  const shutdown = (signal: string) => {
    void app.stop(signal).then(
      (clean) => process.exit(clean ? 0 : 1),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
  // Node's own report would print every field of the error (a query's parameters) to stderr.
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception');
    process.exit(1);
  });
  try {
    await app.start();
  } catch (error) {
    if (error instanceof ConfigError) {
      // A setting that could be checked only against Discord's answer (SHARD_IDS with SHARD_COUNT=auto).
      logger.fatal({ problems: error.problems }, 'veobot cannot start: invalid configuration');
      process.stderr.write(`veobot cannot start.\n${scrubSecrets(error.message)}\n`);
      await app.stop('startup failure').catch(() => undefined);
      process.exit(1);
    }
    if (error instanceof Error && error.name === 'DuplicateInstanceError') {
      logger.fatal({ err: error, event: 'instance_duplicate' }, `veobot cannot start: ${error.message}`);
    } else {
      logger.fatal({ err: error }, 'veobot could not connect to Discord');
    }
    await app.stop('startup failure').catch(() => undefined);
    process.exit(1);
  }
}

void main();
