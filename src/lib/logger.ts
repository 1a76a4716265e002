import { LogLevel, type ILogger } from '@sapphire/framework';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log object. Interaction tokens are as good as a password for 15
 * minutes; bot tokens and keys for ever; Discord's signed URLs of the images given to `/video` (kept until the worker
 * has stored them) open the user's file for about a day.
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
  'imageSourceUrl',
  '*.imageSourceUrl',
  'image_source_url',
  '*.image_source_url',
  'lastFrameSourceUrl',
  '*.lastFrameSourceUrl',
  'last_frame_source_url',
  '*.last_frame_source_url',
  'imageSource',
  '*.imageSource',
  'lastFrameSource',
  '*.lastFrameSource',
];

/** Strips secrets that can hide inside free text (error messages, URLs). */
export function scrubSecrets(text: string): string {
  return (
    text
      // a webhook or interaction token runs to the next path separator (emulated tokens hold a colon)
      .replace(/(\/(?:webhooks|interactions)\/\d+\/)[^/?#\s"'`]{20,}/g, '$1[redacted]')
      .replace(/\b(Bot|Bearer)\s+[A-Za-z0-9._~+/=-]{10,}/g, '$1 [redacted]')
      // the signature of a signed Discord CDN URL (an attachment given to /video)
      .replace(/([?&]hm=)[0-9a-f]{16,}/gi, '$1[redacted]')
      .replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/g, '$1[redacted]@')
      .replace(/(redis(?:s)?:\/\/[^:/@\s]*:)[^@\s]+@/g, '$1[redacted]@')
      .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[redacted private key]')
      .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*/g, '[redacted private key]') // cut short: all of the rest
      // PostgreSQL echoes the offending value in a few messages (invalid input syntax for type uuid: "…")
      .replace(/(invalid input (?:syntax|value) for [^:\n]{1,80}: )"(?:[^"\\]|\\.)*"/g, '$1"[redacted]"')
  );
}

/** The only shape an error takes in a log line (see serializeError). */
export interface SafeError {
  /** constructor name, as pino's own serializer calls it */
  type: string;
  name?: string;
  message: string;
  /** SQLSTATE, Node system error code, Discord JSON error code or Google status (INVALID_ARGUMENT) */
  code?: string | number;
  /** HTTP status of a Discord or Google answer */
  status?: number;
  /** HTTP method and URL (path only, tokens scrubbed) of a failed Discord request */
  method?: string;
  url?: string;
  /** VeoError's classification */
  kind?: string;
  stack?: string;
  cause?: SafeError;
  /** an AggregateError's errors (a refused connection to localhost tries IPv6 and IPv4) */
  errors?: SafeError[];
}

const MAX_MESSAGE = 1_000;
const MAX_DEPTH = 4;
const MAX_FRAMES = 12;
const MAX_AGGREGATED = 4;
const IDENTIFIER = /^[A-Za-z0-9_.:[\]-]{1,64}$/;

function short(text: string, max = MAX_MESSAGE): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters)` : text;
}

function identifier(value: unknown): string | undefined {
  return typeof value === 'string' && IDENTIFIER.test(value) ? value : undefined;
}

/** Google's REST errors carry their JSON body as the message: keep its message and status, not the whole body. */
function googleBody(message: string): { message: string; code?: string; status?: number } | undefined {
  if (!message.startsWith('{')) return undefined;
  try {
    const body = (JSON.parse(message) as { error?: { message?: unknown; status?: unknown; code?: unknown } }).error;
    if (!body || typeof body.message !== 'string') return undefined;
    return {
      message: body.message,
      code: identifier(body.status),
      status: typeof body.code === 'number' ? body.code : undefined,
    };
  } catch {
    return undefined;
  }
}

function safeUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  // the query string can hold signatures (signed URLs) or user text; the path says what was called
  return short(scrubSecrets(value.split(/[?#]/, 1)[0]!), 300);
}

/**
 * The one way an error reaches a log line: an allow-list of fields known to be safe, never the error object itself.
 * TypeORM's QueryFailedError carries the statement's parameters (the interaction token, the prompt) and its
 * driverError; discord.js errors carry the request body; Google and gaxios errors carry request headers (the bearer
 * token) and bodies. None of that is copied: only the type and name, the message with secrets scrubbed, a code, an HTTP
 * status (and for Discord the method and path), the stack frames under a rebuilt first line, and the same for the cause
 * chain, MAX_DEPTH deep. Anything thrown that is not an Error is described, not dumped.
 */
export function serializeError(error: unknown, depth = 0): SafeError {
  try {
    return describeError(error, depth);
  } catch {
    // a getter that throws, a revoked proxy: say so rather than lose the log line
    return { type: 'unknown', message: '[an error that could not be read]' };
  }
}

function describeError(error: unknown, depth: number): SafeError {
  if (error === null || typeof error !== 'object') {
    const text = typeof error === 'string' ? error : typeof error === 'function' ? '[function]' : String(error);
    return { type: error === null ? 'null' : typeof error, message: short(scrubSecrets(text)) };
  }
  const e = error as Record<string, unknown>;
  const type = typeof e.constructor === 'function' && e.constructor.name ? e.constructor.name : 'Object';
  if (typeof e.message !== 'string') {
    // A thrown plain object (or array): its fields may be anything, so none of them is shown.
    return { type, message: `[non-error ${type} thrown]` };
  }
  const out: SafeError = { type, message: '' };
  let message = e.message;
  let name: string | undefined;
  try {
    name = typeof e.name === 'string' ? short(e.name, 100) : undefined; // a getter on DiscordAPIError
  } catch {
    name = undefined;
  }
  if (name && name !== type) out.name = name;

  const google = googleBody(message);
  if (google) message = google.message;
  out.message = short(scrubSecrets(message));

  const code = typeof e.code === 'number' && Number.isFinite(e.code) ? e.code : identifier(e.code);
  if (code !== undefined) out.code = code;
  else if (google?.code) out.code = google.code;
  const status = typeof e.status === 'number' ? e.status : google?.status;
  if (status !== undefined && Number.isInteger(status) && status >= 100 && status <= 599) out.status = status;
  if (out.code === undefined && typeof e.status === 'string') {
    const textual = identifier(e.status);
    if (textual) out.code = textual;
  }
  const method = identifier(e.method);
  if (method) out.method = method;
  const url = safeUrl(e.url);
  if (url) out.url = url;
  const kind = identifier(e.kind);
  if (kind) out.kind = kind;

  if (typeof e.stack === 'string') {
    const frames = e.stack
      .split('\n')
      .filter((line) => /^\s+at /.test(line))
      .slice(0, MAX_FRAMES);
    out.stack = [`${name ?? type}: ${out.message}`, ...frames].join('\n');
  }
  if (depth < MAX_DEPTH) {
    if (e.cause !== undefined && e.cause !== error) out.cause = serializeError(e.cause, depth + 1);
    if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every((x) => x instanceof Error)) {
      out.errors = e.errors.slice(0, MAX_AGGREGATED).map((x: unknown) => serializeError(x, depth + 1));
    }
  }
  return out;
}

function isErrorLike(value: unknown): value is Error {
  return (
    value instanceof Error || (typeof value === 'object' && value !== null && 'stack' in value && 'message' in value)
  );
}

/**
 * Errors logged under any other key (`{ reason: error }`, `{ result: { error } }`) would be written by
 * JSON.stringify with every enumerable field: pass them through serializeError too (two levels deep).
 */
function serializeNestedErrors(obj: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(obj)) {
    if (key === 'err' || key === 'error') continue; // their serializers run next
    const value = obj[key];
    let replaced: unknown = value;
    if (isErrorLike(value)) replaced = serializeError(value);
    else if (
      value &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      Object.getPrototypeOf(value) === Object.prototype
    ) {
      const inner = value as Record<string, unknown>;
      if (Object.keys(inner).some((k) => isErrorLike(inner[k]))) {
        replaced = Object.fromEntries(
          Object.entries(inner).map(([k, v]) => [k, isErrorLike(v) ? serializeError(v) : v]),
        );
      }
    }
    if (replaced !== value) {
      copy ??= { ...obj };
      copy[key] = replaced;
    }
  }
  return copy ?? obj;
}

/** What pino writes for `err` and `error`: a string (a message logged as `error: text`) stays a string, scrubbed. */
function errorField(value: unknown): unknown {
  return typeof value === 'string' ? short(scrubSecrets(value)) : serializeError(value);
}

function messageSerializer(msg: unknown): unknown {
  return typeof msg === 'string' ? scrubSecrets(msg) : msg;
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
    // one function for every error, whatever the key; `msg` too, as pino fills it from err.message
    serializers: { err: errorField, error: errorField, msg: messageSerializer },
    formatters: { log: serializeNestedErrors },
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
    // Errors go through serializeError like every other logged error; other values are summarised with anything
    // that looks like a credential left out (Sapphire may log an interaction, which carries its token).
    const errors = values.filter(isErrorLike);
    const text = values
      .filter((v) => !isErrorLike(v))
      .map((v) => (typeof v === 'string' ? v : safeInspect(v)))
      .join(' ');
    const fields: Record<string, unknown> = { source: 'sapphire' };
    if (errors.length > 0) fields.err = errors[0];
    if (errors.length > 1) fields.errors = errors.slice(1).map((e) => serializeError(e));
    this.pino[name](fields, scrubSecrets(text || (errors.length > 0 ? serializeError(errors[0]).message : '')));
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

const SECRET_KEY = /token|authorization|password|secret|private_?key|cookie/i;

function safeInspect(value: unknown): string {
  try {
    const json = JSON.stringify(value, (key, v: unknown) =>
      SECRET_KEY.test(key) ? '[redacted]' : isErrorLike(v) ? serializeError(v) : v,
    );
    return short(json ?? String(value));
  } catch {
    return short(String(value));
  }
}
