import { LogLevel, type ILogger } from '@sapphire/framework';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log object. Interaction tokens are as good as a password for 15
 * minutes; bot tokens and keys for ever.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'interactionToken',
  '*.interactionToken',
  'interaction_token',
  '*.interaction_token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'privateKey',
  '*.privateKey',
  'private_key',
  '*.private_key',
  'password',
  '*.password',
  'DISCORD_TOKEN',
  '*.DISCORD_TOKEN',
];

/** Strips secrets that can hide inside free text (error messages, URLs). */
export function scrubSecrets(text: string): string {
  return text
    .replace(/(\/(?:webhooks|interactions)\/\d+\/)[A-Za-z0-9._-]{20,}/g, '$1[redacted]')
    .replace(/\b(Bot|Bearer)\s+[A-Za-z0-9._-]{10,}/g, '$1 [redacted]')
    .replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/g, '$1[redacted]@')
    .replace(/(redis(?:s)?:\/\/[^:/@\s]*:)[^@\s]+@/g, '$1[redacted]@')
    .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[redacted private key]');
}

function errorSerializer(err: unknown): unknown {
  const serialized = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (!serialized || typeof serialized !== 'object') return serialized;
  for (const key of ['message', 'stack', 'url']) {
    const value = serialized[key];
    if (typeof value === 'string') serialized[key] = scrubSecrets(value);
  }
  // DiscordAPIError keeps the request body (which can hold tokens or user text); keep only what helps.
  delete serialized.requestBody;
  delete serialized.rawError;
  return serialized;
}

export interface LoggerOptions {
  level: string;
  pretty?: boolean;
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.pretty ?? (process.stdout.isTTY === true && process.env.NODE_ENV !== 'test');
  const base: pino.LoggerOptions = {
    level: options.level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: errorSerializer, error: errorSerializer },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.destination) return pino(base, options.destination);
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } },
    });
  }
  return pino(base);
}

const SAPPHIRE_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  [LogLevel.Trace]: 'trace',
  [LogLevel.Debug]: 'debug',
  [LogLevel.Info]: 'info',
  [LogLevel.Warn]: 'warn',
  [LogLevel.Error]: 'error',
  [LogLevel.Fatal]: 'fatal',
};

/** Lets Sapphire and its plugins log through the same pino instance (`container.logger`). */
export class SapphirePinoLogger implements ILogger {
  public constructor(private readonly pino: Logger) {}

  public has(level: LogLevel): boolean {
    const name = SAPPHIRE_LEVELS[level];
    return name !== undefined && this.pino.isLevelEnabled(name);
  }

  public write(level: LogLevel, ...values: readonly unknown[]): void {
    const name = SAPPHIRE_LEVELS[level];
    if (!name) return;
    const error = values.find((v): v is Error => v instanceof Error);
    const text = values
      .filter((v) => v !== error)
      .map((v) => (typeof v === 'string' ? v : safeInspect(v)))
      .join(' ');
    if (error) this.pino[name]({ err: error, source: 'sapphire' }, scrubSecrets(text || error.message));
    else this.pino[name]({ source: 'sapphire' }, scrubSecrets(text));
  }

  public trace(...values: readonly unknown[]): void {
    this.write(LogLevel.Trace, ...values);
  }
  public debug(...values: readonly unknown[]): void {
    this.write(LogLevel.Debug, ...values);
  }
  public info(...values: readonly unknown[]): void {
    this.write(LogLevel.Info, ...values);
  }
  public warn(...values: readonly unknown[]): void {
    this.write(LogLevel.Warn, ...values);
  }
  public error(...values: readonly unknown[]): void {
    this.write(LogLevel.Error, ...values);
  }
  public fatal(...values: readonly unknown[]): void {
    this.write(LogLevel.Fatal, ...values);
  }
}

function safeInspect(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
