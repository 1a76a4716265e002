import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { CRASH_POINTS } from './crashPoints';

/**
 * Every setting the bot reads, validated in one place. `loadConfig` never throws for bad input: it returns every
 * problem at once so the operator fixes them in one go (see `ConfigError`).
 */
export interface Config {
  discord: {
    token: string;
    apiUrl: string | undefined;
    guildIds: string[];
    /** SHARD_COUNT and SHARD_IDS; resolve `auto` with `resolveShards` once GET /gateway/bot has answered */
    shards: ShardSetting;
  };
  database: {
    /** undefined = embedded PostgreSQL-compatible engine (PGlite) under dataDir */
    url: string | undefined;
    dataDir: string;
  };
  /** undefined = in-process scheduler (single instance) */
  redisUrl: string | undefined;
  google: {
    project: string;
    location: string;
    veoModel: string;
    vertexApiEndpoint: string | undefined;
    credentialsFile: string | undefined;
    bucket: string;
    storageApiEndpoint: string | undefined;
  };
  resume: {
    disabled: boolean;
    concurrency: number;
    maxAgeHours: number;
    requestTimeoutMs: number;
    leaseDurationMs: number;
    sweepIntervalMs: number;
    maxSubmitAttempts: number;
    ambiguousGraceMs: number;
  };
  veo: {
    pollIntervalMs: number;
  };
  video: {
    dailyQuota: number;
    allowedChannelIds: string[];
    linkMode: 'signed' | 'public';
    signedUrlExpiryHours: number;
    progressEditIntervalMs: number;
  };
  /** Spend control (issue #13): the operator's caps, held across all instances in PostgreSQL. */
  spend: {
    /** servers where `/video` works (empty = all) */
    allowedGuildIds: string[];
    /** video-seconds all servers together may request per rolling 24 h (0 = no cap) */
    globalDailyVideoSeconds: number;
    /** video-seconds per server per rolling 24 h: the default and the most a server may set (0 = no cap) */
    guildDailyVideoSeconds: number;
    /** Veo submits per window across all instances (the project's quota) */
    submitsPerMinute: number;
    /** Veo operations generating at once across all instances (0 = no cap) */
    maxInFlight: number;
    /** the "minute" of submitsPerMinute, in ms (tests and the benchmark shorten it) */
    submitWindowMs: number;
  };
  /** how long a graceful shutdown may take before the process releases what it can and exits non-zero */
  shutdownTimeoutMs: number;
  httpPort: number | undefined;
  /** the interface the health server listens on */
  httpHost: string;
  logLevel: string;
  /** this process's name in leases and bot_instances: stable per replica (e.g. a StatefulSet pod name) or unique */
  instanceId: string;
  /** an instance that has not beaten for this long is dead: its leases are free at once (it beats every fifth) */
  instanceDeadAfterMs: number;
  /** Test-only crash injection; undefined in production. */
  crashPoint: string | undefined;
}

/**
 * The gateway shards of the whole bot (`count`, or `auto`: Discord's recommendation) and those this process runs
 * (`ids`; undefined = all of them).
 */
export interface ShardSetting {
  count: number | 'auto';
  ids: number[] | undefined;
}

/** A shard plan this process connects with: every id is below `count`. */
export interface ShardPlan {
  count: number;
  ids: number[];
}

/** The largest SHARD_COUNT accepted (Discord's largest bots run a few thousand shards). */
export const MAX_SHARD_COUNT = 100_000;

export class ConfigError extends Error {
  public constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const SNOWFLAKE = /^\d{17,20}$/;

type Env = Record<string, string | undefined>;

class Reader {
  public readonly problems: string[] = [];
  public constructor(private readonly env: Env) {}

  public raw(name: string): string | undefined {
    const value = this.env[name];
    if (value === undefined) return undefined;
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  }

  public required(name: string, expects: string): string {
    const value = this.raw(name);
    if (value === undefined) this.problems.push(`${name} is missing: expected ${expects}`);
    return value ?? '';
  }

  public optional(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  public int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      this.problems.push(`${name}=${JSON.stringify(value)} is invalid: expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  }

  public bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(value)) return true;
    if (['false', '0', 'no', 'off'].includes(value)) return false;
    this.problems.push(`${name}=${JSON.stringify(value)} is invalid: expected true or false`);
    return fallback;
  }

  public url(name: string, protocols: string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
      return value.replace(/\/+$/, '');
    } catch {
      // Never echo a URL back: it may carry a password.
      this.problems.push(
        `${name} is invalid: expected a ${protocols.map((p) => p.replace(':', '://')).join(' or ')} URL`,
      );
      return undefined;
    }
  }

  public snowflakes(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined) return [];
    const ids = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = ids.filter((id) => !SNOWFLAKE.test(id));
    if (bad.length > 0)
      this.problems.push(`${name} has invalid ids (${bad.join(', ')}): expected comma-separated Discord ids`);
    return ids.filter((id) => SNOWFLAKE.test(id));
  }
}

/** SHARD_IDS: `0,1`, `0-3` or both (`0-3,8`); undefined when unset. Problems go to `problems`. */
function parseShardIds(raw: string | undefined, problems: string[]): number[] | undefined {
  if (raw === undefined) return undefined;
  const ids: number[] = [];
  for (const part of raw.split(',').map((p) => p.trim())) {
    const range = /^(\d{1,6})(?:\s*-\s*(\d{1,6}))?$/.exec(part);
    const from = range ? Number(range[1]) : NaN;
    const to = range?.[2] !== undefined ? Number(range[2]) : from;
    if (!range || to < from) {
      problems.push(
        `SHARD_IDS=${JSON.stringify(raw)} is invalid: ${JSON.stringify(part)} is not a shard id or a range like 0-3 (expected e.g. 0,1 or 0-3)`,
      );
      return undefined;
    }
    for (let id = from; id <= to; id++) ids.push(id);
  }
  const duplicates = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
  if (duplicates.length > 0) {
    problems.push(`SHARD_IDS=${JSON.stringify(raw)} is invalid: shard ${duplicates.join(', ')} is listed twice`);
    return undefined;
  }
  return ids.sort((a, b) => a - b);
}

/** Problems of SHARD_IDS against a shard count (empty when every id is below it). */
export function shardIdProblems(ids: number[], count: number, countSource: string): string[] {
  const outside = ids.filter((id) => id >= count);
  if (outside.length === 0) return [];
  return [
    `SHARD_IDS names shard ${outside.join(', ')}, but ${countSource} is ${count}: shard ids run from 0 to ${count - 1}`,
  ];
}

/**
 * The shards this process runs, once the count is known: SHARD_COUNT itself, or (for `auto`) the `shards` Discord
 * recommends in GET /gateway/bot. Throws ConfigError when SHARD_IDS does not fit the count.
 */
export function resolveShards(setting: ShardSetting, recommended: number): ShardPlan {
  const count = setting.count === 'auto' ? recommended : setting.count;
  const source = setting.count === 'auto' ? `SHARD_COUNT=auto (Discord recommends ${recommended})` : 'SHARD_COUNT';
  const problems = setting.ids ? shardIdProblems(setting.ids, count, source) : [];
  if (problems.length > 0) throw new ConfigError(problems);
  return { count, ids: setting.ids ?? Array.from({ length: count }, (_, i) => i) };
}

export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Reads and validates settings from `env`; throws ConfigError listing every problem. */
export function loadConfig(env: Env = process.env): Config {
  const r = new Reader(env);

  const token = r.required('DISCORD_TOKEN', 'the bot token from the Discord developer portal');
  if (token && /\s/.test(token)) r.problems.push('DISCORD_TOKEN is invalid: expected a token without spaces');

  const credentialsFile = r.raw('GOOGLE_APPLICATION_CREDENTIALS');
  if (credentialsFile && !existsSync(credentialsFile)) {
    r.problems.push(`GOOGLE_APPLICATION_CREDENTIALS names a file that does not exist: ${credentialsFile}`);
  }

  const bucket = r.required('GCS_BUCKET', 'the Cloud Storage bucket name Veo writes videos to');
  if (bucket && !/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket)) {
    r.problems.push(`GCS_BUCKET=${JSON.stringify(bucket)} is invalid: expected a bucket name (not a gs:// URL)`);
  }

  const linkMode = r.optional('VIDEO_LINK_MODE', 'signed');
  if (linkMode !== 'signed' && linkMode !== 'public') {
    r.problems.push(`VIDEO_LINK_MODE=${JSON.stringify(linkMode)} is invalid: expected signed or public`);
  }

  const logLevel = r.optional('LOG_LEVEL', 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    r.problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)} is invalid: expected one of ${LOG_LEVELS.join(', ')}`);
  }

  const httpPortRaw = r.raw('HTTP_PORT');
  const httpPort = httpPortRaw === undefined ? undefined : r.int('HTTP_PORT', 0, 0, 65535);
  const httpHost = r.optional('HTTP_HOST', '127.0.0.1');
  if (
    isIP(httpHost) === 0 &&
    !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(httpHost)
  ) {
    r.problems.push(
      `HTTP_HOST=${JSON.stringify(httpHost)} is invalid: expected an IP address (127.0.0.1, 0.0.0.0, ::) or a host name`,
    );
  }

  const shardCountRaw = r.raw('SHARD_COUNT');
  let shardCount: number | 'auto' = 1;
  if (shardCountRaw?.toLowerCase() === 'auto') shardCount = 'auto';
  else if (shardCountRaw !== undefined) {
    const n = Number(shardCountRaw);
    if (/^\d+$/.test(shardCountRaw) && n >= 1 && n <= MAX_SHARD_COUNT) shardCount = n;
    else
      r.problems.push(
        `SHARD_COUNT=${JSON.stringify(shardCountRaw)} is invalid: expected a whole number from 1 to ${MAX_SHARD_COUNT}, or auto (the number of shards Discord recommends)`,
      );
  }
  const shardIds = parseShardIds(r.raw('SHARD_IDS'), r.problems);
  if (shardIds && typeof shardCount === 'number')
    r.problems.push(...shardIdProblems(shardIds, shardCount, 'SHARD_COUNT'));

  const config: Config = {
    discord: {
      token,
      apiUrl: r.url('DISCORD_API_URL', ['http:', 'https:']),
      guildIds: r.snowflakes('DISCORD_GUILD_IDS'),
      shards: { count: shardCount, ids: shardIds },
    },
    database: {
      url: r.url('DATABASE_URL', ['postgres:', 'postgresql:']),
      dataDir: resolve(r.optional('DATA_DIR', './data')),
    },
    redisUrl: r.url('REDIS_URL', ['redis:', 'rediss:']),
    google: {
      project: r.required('GOOGLE_CLOUD_PROJECT', 'the Google Cloud project id that has Vertex AI enabled'),
      location: r.optional('GOOGLE_CLOUD_LOCATION', 'us-central1'),
      veoModel: r.optional('VEO_MODEL', 'veo-3.1-fast-generate-001'),
      vertexApiEndpoint: r.url('VERTEX_API_ENDPOINT', ['http:', 'https:']),
      credentialsFile,
      bucket,
      storageApiEndpoint: r.url('GCS_API_ENDPOINT', ['http:', 'https:']),
    },
    resume: {
      disabled: r.bool('DISABLE_TASK_RESUME', false),
      concurrency: r.int('RESUME_CONCURRENCY', 3, 1, 50),
      maxAgeHours: r.int('RESUME_MAX_AGE_HOURS', 24, 1, 24 * 365),
      requestTimeoutMs: r.int('RESUME_REQUEST_TIMEOUT_MS', 600_000, 1_000, 86_400_000),
      leaseDurationMs: r.int('LEASE_DURATION_MS', 60_000, 1_000, 3_600_000),
      sweepIntervalMs: r.int('SWEEP_INTERVAL_MS', 30_000, 500, 3_600_000),
      maxSubmitAttempts: r.int('MAX_SUBMIT_ATTEMPTS', 3, 1, 10),
      ambiguousGraceMs: r.int('AMBIGUOUS_GRACE_MS', 900_000, 0, 86_400_000),
    },
    veo: {
      pollIntervalMs: r.int('VEO_POLL_INTERVAL_MS', 10_000, 50, 600_000),
    },
    video: {
      dailyQuota: r.int('DAILY_QUOTA', 5, 0, 10_000),
      allowedChannelIds: r.snowflakes('ALLOWED_CHANNEL_IDS'),
      linkMode: linkMode === 'public' ? 'public' : 'signed',
      signedUrlExpiryHours: r.int('SIGNED_URL_EXPIRY_HOURS', 24, 1, 168),
      progressEditIntervalMs: r.int('PROGRESS_EDIT_INTERVAL_MS', 5_000, 100, 60_000),
    },
    spend: {
      allowedGuildIds: r.snowflakes('ALLOWED_GUILD_IDS'),
      globalDailyVideoSeconds: r.int('GLOBAL_DAILY_VIDEO_SECONDS', 1800, 0, 100_000_000),
      guildDailyVideoSeconds: r.int('GUILD_DAILY_VIDEO_SECONDS', 600, 0, 100_000_000),
      submitsPerMinute: r.int('VEO_SUBMITS_PER_MINUTE', 50, 1, 100_000),
      maxInFlight: r.int('VEO_MAX_IN_FLIGHT', 20, 0, 100_000),
      submitWindowMs: r.int('VEO_SUBMIT_WINDOW_MS', 60_000, 1_000, 3_600_000),
    },
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 25_000, 1_000, 600_000),
    httpPort,
    httpHost,
    logLevel,
    instanceId: r.optional('INSTANCE_ID', defaultInstanceId()),
    instanceDeadAfterMs: r.int('INSTANCE_DEAD_AFTER_MS', 15_000, 1_000, 600_000),
    crashPoint: r.raw('CRASH_POINT'),
  };

  if (!/^[\x21-\x7e]{1,200}$/.test(config.instanceId)) {
    r.problems.push(
      'INSTANCE_ID is invalid: expected up to 200 printable characters without spaces (e.g. the pod name veobot-0)',
    );
  }
  if (config.crashPoint && !(CRASH_POINTS as readonly string[]).includes(config.crashPoint)) {
    r.problems.push(
      `CRASH_POINT=${JSON.stringify(config.crashPoint)} is invalid: expected one of ${CRASH_POINTS.join(', ')} (tests only)`,
    );
  }
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}
