/**
 * R12 (docs/requirements.md): checks that the bot resumes interrupted requests after a restart, with a real database and the real
 * bot process, against local emulators (default) or against real Discord and Vertex AI.
 *
 * Procedure (what `runResumeCheck` does):
 *   1. Opens the bot's database (DATABASE_URL; migrating it like the bot does) and writes two requests as a crashed
 *      bot leaves them: one `pending` (never submitted) and one `generating` (submitted to Veo through the bot's own
 *      VeoService and write-ahead attempt row, so a real operation exists). Their leases are given back, as after a
 *      crash once the lease ran out. Prompts start with "[test-resume]".
 *   2. Starts the bot (`node dist/index.js`) with the same settings and reads its JSON log.
 *   3. Waits until both rows are `completed` with `announcement = 'sent'` and the log holds a `resume_finished` line.
 *   4. Checks the database: the pending row was submitted exactly once, the generating row not again.
 *   5. Reads the test channel through Discord's REST API and checks each request got exactly one bot message with
 *      the footer "Resumed after bot restart", mentioning the requester, whose id is the one recorded on the row.
 *   6. Stops the bot with SIGTERM (graceful shutdown) and prints every check with ✓ or ✗; exit code 0 only if all
 *      passed. The rows are left in the database for inspection.
 *
 * Emulators (the default; nothing to configure, no accounts, nothing billed):
 *     node dist/scripts/test-resume.js          (after `npm run build`)
 *   runs `jest tests/e2e/test-resume.script.test.ts`, which starts the Discord and Google emulators and a fresh
 *   PostgreSQL database (127.0.0.1:5432 or TEST_DATABASE_URL) and calls `runResumeCheck` against them. The emulators
 *   are test code (tests/emulators), which this compiled script cannot import, hence the hand-over to jest.
 *
 * Real Discord and Vertex AI (RESUME_TEST_LIVE=true; bills one 4-second fast-model generation, about twice):
 *     RESUME_TEST_LIVE=true RESUME_TEST_GUILD_ID=… RESUME_TEST_CHANNEL_ID=… RESUME_TEST_USER_ID=… \
 *       node dist/scripts/test-resume.js
 *   with the bot's usual settings in the environment or .env (DISCORD_TOKEN, GOOGLE_CLOUD_PROJECT, GCS_BUCKET,
 *   GOOGLE_APPLICATION_CREDENTIALS …) and DATABASE_URL pointing at a PostgreSQL database used only for this check
 *   (the bot resumes every unfinished row it finds there). The bot must be in the guild and allowed to post in the
 *   channel; the user is mentioned once per request. Make sure no other instance of the bot runs on that token.
 */
import 'reflect-metadata';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REST, Routes, type APIMessage } from 'discord.js';
import { config as loadDotenv } from 'dotenv';
import pino from 'pino';
import { openDatabase, type Database } from '../db/dataSource';
import { loadConfig } from '../lib/config';
import { serializeError } from '../lib/logger';
import { createRequestStore } from '../db/repositories';
import { requestMarker } from '../discord/text';
import type { VideoRequestRow } from '../domain/request';
import { StorageService } from '../services/StorageService';
import { VeoService } from '../services/VeoService';

export interface ResumeCheckTarget {
  /** The bot's complete environment (the same settings an operator gives it). */
  env: Record<string, string | undefined>;
  guildId: string;
  /** Channel the test requests belong to (the bot posts its announcements there). */
  channelId: string;
  /** Requester of the test requests (mentioned in the announcements). */
  userId: string;
  /** Longest wait for both requests to be resumed, completed and announced. */
  timeoutMs?: number;
  /** Bot entry point (default: dist/index.js). */
  botEntry?: string;
  log?: (line: string) => void;
}

export interface ResumeCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface ResumeCheckResult {
  ok: boolean;
  checks: ResumeCheck[];
  pendingId: string;
  generatingId: string;
  /** The bot's JSON log lines. */
  botLogs: Record<string, unknown>[];
}

const RESUMED_FOOTER = 'Resumed after bot restart';
const SCRIPT_OWNER = 'test-resume-script';

function defaultBotEntry(): string {
  // dist/scripts/test-resume.js → dist/index.js; src/scripts/test-resume.ts (under jest) → dist/index.js
  return __filename.endsWith('.ts')
    ? join(__dirname, '..', '..', 'dist', 'index.js')
    : join(__dirname, '..', 'index.js');
}

/** Runs the procedure described at the top of this file. Never throws for a failed check; it is reported. */
export async function runResumeCheck(target: ResumeCheckTarget): Promise<ResumeCheckResult> {
  const say = target.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const config = loadConfig(target.env);
  if (!config.database.url)
    throw new Error('DATABASE_URL is required: the check and the bot must share one PostgreSQL database');
  const logger = pino({ level: 'silent' });
  const checks: ResumeCheck[] = [];
  const check = (name: string, ok: boolean, detail?: string) => {
    checks.push({ name, ok, detail });
    say(`${ok ? '✓' : '✗'} ${name}${detail ? ` (${detail})` : ''}`);
  };

  let database: Database | undefined;
  let bot: ChildProcess | undefined;
  const botLogs: Record<string, unknown>[] = [];
  let pendingId = '';
  let generatingId = '';
  try {
    // 1. Two requests as a crashed bot leaves them.
    database = await openDatabase(config.database, logger);
    const tracking = createRequestStore(database.dataSource, logger);
    const veo = VeoService.create(config.google, logger);
    const storage = StorageService.create(config.google, config.video, logger);
    const base = {
      userId: target.userId,
      guildId: target.guildId,
      channelId: target.channelId,
      durationSeconds: 4 as const,
      aspectRatio: '16:9' as const,
      resolution: '720p' as const,
      generateAudio: false,
      model: config.google.veoModel,
    };
    const pending = await tracking.requests.createRequest(
      { ...base, prompt: '[test-resume] a paper lantern drifting up at night' },
      SCRIPT_OWNER,
      60_000,
    );
    await tracking.leases.releaseLease(pending.lease);
    pendingId = pending.row.id;

    const generating = await tracking.requests.createRequest(
      { ...base, prompt: '[test-resume] waves folding over black sand' },
      SCRIPT_OWNER,
      60_000,
    );
    generatingId = generating.row.id;
    const prefix = storage.outputPrefix({ ...base, requestId: generatingId }, 1);
    const attempt = await tracking.attempts.recordSubmitAttempt(generating.lease, prefix);
    const operationName = await veo.startGeneration(
      {
        prompt: generating.row.prompt,
        model: base.model,
        durationSeconds: 4,
        aspectRatio: '16:9',
        resolution: '720p',
        generateAudio: false,
        negativePrompt: null,
        seed: null,
      },
      storage.outputUri(prefix),
    );
    await tracking.attempts.recordOperationAccepted(generating.lease, attempt.id, operationName, base.model);
    await tracking.leases.releaseLease(generating.lease);
    say(`inserted pending ${pendingId} and generating ${generatingId} (operation ${operationName})`);

    // 2. Start the bot.
    const entry = target.botEntry ?? defaultBotEntry();
    if (!existsSync(entry)) throw new Error(`${entry} not found: run \`npm run build\` first`);
    bot = spawn(process.execPath, [entry], { env: target.env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    let stderr = '';
    bot.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          botLogs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a JSON log line
        }
      }
    });
    bot.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    say(`started the bot (pid ${bot.pid})`);

    // 3. Wait for both to be finished and announced.
    const deadline = Date.now() + (target.timeoutMs ?? 15 * 60_000);
    let rows: (VideoRequestRow | null)[] = [];
    for (;;) {
      rows = await Promise.all([tracking.requests.getById(pendingId), tracking.requests.getById(generatingId)]);
      const settled = rows.every(
        (r) =>
          r &&
          r.status !== 'pending' &&
          r.status !== 'generating' &&
          r.announcement !== 'due' &&
          r.announcement !== null,
      );
      if (settled && botLogs.some((l) => l.event === 'resume_finished')) break;
      if (bot.exitCode !== null || bot.signalCode !== null)
        throw new Error(`the bot exited early (${bot.exitCode ?? bot.signalCode}):\n${stderr.slice(-2000)}`);
      if (Date.now() > deadline) {
        say(
          `timed out; rows: ${JSON.stringify(rows.map((r) => r && { id: r.id, status: r.status, announcement: r.announcement, error: r.errorMessage }))}`,
        );
        break;
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
    check(
      'the bot reached READY',
      botLogs.some((l) => l.msg === 'gateway ready'),
    );
    check(
      'the startup resume sweep finished',
      botLogs.some((l) => l.event === 'resume_finished'),
    );

    // 4. Database.
    const [p, g] = rows;
    check(
      'pending request completed',
      p?.status === 'completed',
      p ? `status ${p.status}${p.errorMessage ? `: ${p.errorMessage}` : ''}` : 'row missing',
    );
    check(
      'pending request submitted to Veo exactly once',
      p?.submitAttempts === 1,
      `submit_attempts ${p?.submitAttempts}`,
    );
    check(
      'generating request completed from its stored operation',
      g?.status === 'completed' && g.operationName === operationName,
      `status ${g?.status}`,
    );
    check('generating request not submitted again', g?.submitAttempts === 1, `submit_attempts ${g?.submitAttempts}`);

    // 5. Discord.
    const rest = new REST(config.discord.apiUrl ? { api: config.discord.apiUrl } : {}).setToken(config.discord.token);
    try {
      const messages = (await rest.get(Routes.channelMessages(target.channelId), {
        query: new URLSearchParams({ limit: '100' }),
      })) as APIMessage[];
      for (const [label, row] of [
        ['pending', p],
        ['generating', g],
      ] as const) {
        if (!row) continue;
        const mine = messages.filter((m) => m.embeds?.some((e) => e.footer?.text?.includes(requestMarker(row.id))));
        check(`${label} request announced exactly once in the channel`, mine.length === 1, `${mine.length} message(s)`);
        check(
          `${label} announcement recorded on the row`,
          row.announcement === 'sent' && row.notificationMessageId === mine[0]?.id,
        );
        const message = mine[0];
        if (!message) continue;
        check(
          `${label} announcement says "${RESUMED_FOOTER}"`,
          message.embeds.some((e) => e.footer?.text?.includes(RESUMED_FOOTER)),
        );
        check(
          `${label} announcement mentions only the requester`,
          message.content.includes(`<@${target.userId}>`) &&
            message.mention_everyone === false &&
            (message.mention_roles ?? []).length === 0,
        );
      }
    } finally {
      rest.clearHashSweeper();
      rest.clearHandlerSweeper();
    }
  } catch (error) {
    check('the check ran to the end', false, serializeError(error).message);
  } finally {
    // 6. Graceful stop.
    if (bot && bot.exitCode === null && bot.signalCode === null) {
      const exited = new Promise((resolve) => bot!.once('exit', resolve));
      bot.kill('SIGTERM');
      const force = setTimeout(() => bot!.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(force);
    }
    await database?.close().catch(() => undefined);
  }
  const ok = checks.length > 0 && checks.every((c) => c.ok);
  say(ok ? 'resume check passed' : 'resume check FAILED');
  return { ok, checks, pendingId, generatingId, botLogs };
}

function liveTarget(env: NodeJS.ProcessEnv): ResumeCheckTarget {
  const missing = ['RESUME_TEST_GUILD_ID', 'RESUME_TEST_CHANNEL_ID', 'RESUME_TEST_USER_ID', 'DATABASE_URL'].filter(
    (k) => !env[k],
  );
  if (missing.length > 0)
    throw new Error(`RESUME_TEST_LIVE=true needs ${missing.join(', ')} (see the header of src/scripts/test-resume.ts)`);
  return {
    env: { ...env },
    guildId: env.RESUME_TEST_GUILD_ID!,
    channelId: env.RESUME_TEST_CHANNEL_ID!,
    userId: env.RESUME_TEST_USER_ID!,
  };
}

async function main(): Promise<void> {
  loadDotenv({ quiet: true });
  if (process.env.RESUME_TEST_LIVE === 'true') {
    const result = await runResumeCheck(liveTarget(process.env));
    process.exit(result.ok ? 0 : 1);
  }
  // Default: against the emulators, which live with the tests (see the header).
  const root = join(__dirname, '..', '..');
  const jest = join(root, 'node_modules', 'jest', 'bin', 'jest.js');
  const run = spawnSync(process.execPath, [jest, 'tests/e2e/test-resume.script.test.ts'], {
    cwd: root,
    stdio: 'inherit',
  });
  process.exit(run.status ?? 1);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${serializeError(error).message}\n`);
    process.exit(1);
  });
}
