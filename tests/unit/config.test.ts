import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, resolveShards } from '../../src/lib/config';

const minimal = { DISCORD_TOKEN: 'abc.def.ghi', GOOGLE_CLOUD_PROJECT: 'proj', GCS_BUCKET: 'my-bucket' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('applies the documented defaults when only the required settings are given', () => {
    const config = loadConfig(minimal);
    expect(config.database.url).toBeUndefined(); // embedded database
    expect(config.database.dataDir).toMatch(/data$/);
    expect(config.redisUrl).toBeUndefined(); // in-process scheduler
    expect(config.google.location).toBe('us-central1');
    expect(config.google.veoModel).toBe('veo-3.1-fast-generate-001');
    expect(config.resume).toMatchObject({
      disabled: false,
      concurrency: 3,
      maxAgeHours: 24,
      requestTimeoutMs: 600_000,
    });
    expect(config.veo.pollIntervalMs).toBe(10_000);
    expect(config.video.dailyQuota).toBe(5);
    expect(config.httpPort).toBeUndefined();
    expect(config.httpHost).toBe('127.0.0.1'); // the health port is private unless said otherwise
    expect(config.logLevel).toBe('info');
    expect(config.crashPoint).toBeUndefined();
  });

  it('instances: INSTANCE_DEAD_AFTER_MS defaults to 15 s and is validated; default INSTANCE_IDs are unique', () => {
    expect(loadConfig(minimal).instanceDeadAfterMs).toBe(15_000);
    expect(loadConfig({ ...minimal, INSTANCE_DEAD_AFTER_MS: '5000' }).instanceDeadAfterMs).toBe(5_000);
    expect(problemsOf({ ...minimal, INSTANCE_DEAD_AFTER_MS: '500' })).toEqual([
      'INSTANCE_DEAD_AFTER_MS="500" is invalid: expected a whole number from 1000 to 600000',
    ]);
    expect(problemsOf({ ...minimal, INSTANCE_DEAD_AFTER_MS: '15s' })).toHaveLength(1);
    expect(loadConfig({ ...minimal, INSTANCE_ID: 'veobot-0' }).instanceId).toBe('veobot-0');
    expect(problemsOf({ ...minimal, INSTANCE_ID: 'two words' })).toEqual([
      'INSTANCE_ID is invalid: expected up to 200 printable characters without spaces (e.g. the pod name veobot-0)',
    ]);
    // Unset, every start gets an id of its own (host, pid and a random part), so no two processes ever share one.
    const ids = new Set(Array.from({ length: 200 }, () => loadConfig(minimal).instanceId));
    expect(ids.size).toBe(200);
  });

  it('names every missing required setting in one error', () => {
    const problems = problemsOf({});
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/DISCORD_TOKEN is missing/);
    expect(problems.join('\n')).toMatch(/GOOGLE_CLOUD_PROJECT is missing/);
    expect(problems.join('\n')).toMatch(/GCS_BUCKET is missing/);
  });

  it('explains each invalid value and what it expects', () => {
    const problems = problemsOf({
      ...minimal,
      RESUME_CONCURRENCY: 'three',
      RESUME_MAX_AGE_HOURS: '0',
      DISABLE_TASK_RESUME: 'maybe',
      DATABASE_URL: 'mysql://root:hunter2@db/x',
      REDIS_URL: 'not a url',
      HTTP_PORT: '70000',
      HTTP_HOST: 'every interface',
      LOG_LEVEL: 'loud',
      DISCORD_GUILD_IDS: '123,456789012345678901',
      GCS_BUCKET: 'gs://my-bucket',
      VIDEO_LINK_MODE: 'email',
      CRASH_POINT: 'somewhere',
    });
    const text = problems.join('\n');
    expect(text).toMatch(/RESUME_CONCURRENCY="three" is invalid: expected a whole number from 1 to 50/);
    expect(text).toMatch(/RESUME_MAX_AGE_HOURS="0" is invalid/);
    expect(text).toMatch(/DISABLE_TASK_RESUME="maybe" is invalid: expected true or false/);
    expect(text).toMatch(/DATABASE_URL is invalid: expected a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(text).toMatch(/REDIS_URL is invalid/);
    expect(text).toMatch(/HTTP_PORT="70000" is invalid/);
    expect(text).toMatch(/HTTP_HOST="every interface" is invalid: expected an IP address/);
    expect(text).toMatch(/LOG_LEVEL="loud" is invalid/);
    expect(text).toMatch(/DISCORD_GUILD_IDS has invalid ids \(123\)/);
    expect(text).toMatch(/GCS_BUCKET="gs:\/\/my-bucket" is invalid: expected a bucket name/);
    expect(text).toMatch(/VIDEO_LINK_MODE="email" is invalid/);
    expect(text).toMatch(/CRASH_POINT="somewhere" is invalid/);
    // A URL with a password is never echoed back.
    expect(text).not.toMatch(/hunter2/);
  });

  it('refuses a credentials file that does not exist, and accepts one that does', () => {
    expect(problemsOf({ ...minimal, GOOGLE_APPLICATION_CREDENTIALS: '/nope/key.json' }).join()).toMatch(
      /names a file that does not exist/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'veobot-config-'));
    const key = join(dir, 'key.json');
    writeFileSync(key, '{}');
    expect(loadConfig({ ...minimal, GOOGLE_APPLICATION_CREDENTIALS: key }).google.credentialsFile).toBe(key);
  });

  it('reads lists, booleans and URLs', () => {
    const config = loadConfig({
      ...minimal,
      DISCORD_GUILD_IDS: ' 200000000000000001 , 200000000000000002 ',
      ALLOWED_CHANNEL_IDS: '300000000000000001',
      DISABLE_TASK_RESUME: 'TRUE',
      DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
      REDIS_URL: 'redis://127.0.0.1:6379/2',
      DISCORD_API_URL: 'http://127.0.0.1:1234/api/',
    });
    expect(config.discord.guildIds).toEqual(['200000000000000001', '200000000000000002']);
    expect(config.video.allowedChannelIds).toEqual(['300000000000000001']);
    expect(config.resume.disabled).toBe(true);
    expect(config.database.url).toBe('postgres://u:p@127.0.0.1:5432/db');
    expect(config.discord.apiUrl).toBe('http://127.0.0.1:1234/api');
  });

  it('reads the spend caps: documented defaults, lists, and every bad value named', () => {
    expect(loadConfig(minimal).spend).toEqual({
      allowedGuildIds: [],
      globalDailyVideoSeconds: 1800,
      guildDailyVideoSeconds: 600,
      submitsPerMinute: 50,
      maxInFlight: 20,
      submitWindowMs: 60_000,
    });
    const config = loadConfig({
      ...minimal,
      ALLOWED_GUILD_IDS: '200000000000000001,200000000000000002',
      GLOBAL_DAILY_VIDEO_SECONDS: '0',
      GUILD_DAILY_VIDEO_SECONDS: '0',
      VEO_MAX_IN_FLIGHT: '0',
    });
    expect(config.spend).toMatchObject({
      allowedGuildIds: ['200000000000000001', '200000000000000002'],
      globalDailyVideoSeconds: 0,
      guildDailyVideoSeconds: 0,
      maxInFlight: 0,
    });
    const text = problemsOf({
      ...minimal,
      ALLOWED_GUILD_IDS: 'my-server',
      GLOBAL_DAILY_VIDEO_SECONDS: '-1',
      GUILD_DAILY_VIDEO_SECONDS: 'lots',
      VEO_SUBMITS_PER_MINUTE: '0',
      VEO_MAX_IN_FLIGHT: '1.5',
      VEO_SUBMIT_WINDOW_MS: '10',
    }).join('\n');
    expect(text).toMatch(/ALLOWED_GUILD_IDS has invalid ids \(my-server\)/);
    expect(text).toMatch(/GLOBAL_DAILY_VIDEO_SECONDS="-1" is invalid: expected a whole number from 0/);
    expect(text).toMatch(/GUILD_DAILY_VIDEO_SECONDS="lots" is invalid/);
    expect(text).toMatch(/VEO_SUBMITS_PER_MINUTE="0" is invalid: expected a whole number from 1/);
    expect(text).toMatch(/VEO_MAX_IN_FLIGHT="1.5" is invalid/);
    expect(text).toMatch(/VEO_SUBMIT_WINDOW_MS="10" is invalid: expected a whole number from 1000/);
  });
});

describe('shard settings (SHARD_COUNT, SHARD_IDS)', () => {
  const shards = (env: Record<string, string>) => loadConfig({ ...minimal, ...env }).discord.shards;

  it('defaults to one shard, run by this process', () => {
    expect(shards({})).toEqual({ count: 1, ids: undefined });
    expect(resolveShards(shards({}), 7)).toEqual({ count: 1, ids: [0] });
  });

  it("takes a count and this process's ids as a list, ranges, or both", () => {
    expect(shards({ SHARD_COUNT: '4', SHARD_IDS: '0,1' })).toEqual({ count: 4, ids: [0, 1] });
    expect(shards({ SHARD_COUNT: '4', SHARD_IDS: '2-3' })).toEqual({ count: 4, ids: [2, 3] });
    expect(shards({ SHARD_COUNT: '16', SHARD_IDS: ' 8 , 0-2 ,12-12' })).toEqual({ count: 16, ids: [0, 1, 2, 8, 12] });
    expect(resolveShards(shards({ SHARD_COUNT: '4' }), 1)).toEqual({ count: 4, ids: [0, 1, 2, 3] });
  });

  it('with auto, takes the count Discord recommends and checks SHARD_IDS against it then', () => {
    expect(shards({ SHARD_COUNT: 'auto' })).toEqual({ count: 'auto', ids: undefined });
    expect(shards({ SHARD_COUNT: 'AUTO', SHARD_IDS: '5' })).toEqual({ count: 'auto', ids: [5] });
    expect(resolveShards({ count: 'auto', ids: undefined }, 3)).toEqual({ count: 3, ids: [0, 1, 2] });
    expect(resolveShards({ count: 'auto', ids: [1, 2] }, 3)).toEqual({ count: 3, ids: [1, 2] });
    expect(() => resolveShards({ count: 'auto', ids: [2, 5] }, 2)).toThrow(ConfigError);
    expect(() => resolveShards({ count: 'auto', ids: [2, 5] }, 2)).toThrow(
      'SHARD_IDS names shard 2, 5, but SHARD_COUNT=auto (Discord recommends 2) is 2: shard ids run from 0 to 1',
    );
  });

  it('refuses bad values with a clear message each', () => {
    const expectsCount = 'expected a whole number from 1 to 100000, or auto';
    expect(problemsOf({ ...minimal, SHARD_COUNT: '0' })).toEqual([
      `SHARD_COUNT="0" is invalid: ${expectsCount} (the number of shards Discord recommends)`,
    ]);
    for (const bad of ['-1', '1.5', 'two', '100001'])
      expect(problemsOf({ ...minimal, SHARD_COUNT: bad })[0]).toContain(
        `SHARD_COUNT=${JSON.stringify(bad)} is invalid: ${expectsCount}`,
      );
    expect(problemsOf({ ...minimal, SHARD_COUNT: '4', SHARD_IDS: '2,4,5' })).toEqual([
      'SHARD_IDS names shard 4, 5, but SHARD_COUNT is 4: shard ids run from 0 to 3',
    ]);
    // Without SHARD_COUNT there is one shard: only shard 0 exists.
    expect(problemsOf({ ...minimal, SHARD_IDS: '1' })).toEqual([
      'SHARD_IDS names shard 1, but SHARD_COUNT is 1: shard ids run from 0 to 0',
    ]);
    expect(problemsOf({ ...minimal, SHARD_COUNT: '4', SHARD_IDS: '3-1' })).toEqual([
      'SHARD_IDS="3-1" is invalid: "3-1" is not a shard id or a range like 0-3 (expected e.g. 0,1 or 0-3)',
    ]);
    for (const bad of ['a', '0,,1', '-1', '1-', '0.5'])
      expect(problemsOf({ ...minimal, SHARD_COUNT: '4', SHARD_IDS: bad })[0]).toMatch(
        /^SHARD_IDS=.* is invalid: .* is not a shard id/,
      );
    expect(problemsOf({ ...minimal, SHARD_COUNT: '4', SHARD_IDS: '0-2,1' })).toEqual([
      'SHARD_IDS="0-2,1" is invalid: shard 1 is listed twice',
    ]);
  });
});
