import { loadConfig } from '../../src/lib/config';
import { StorageService } from '../../src/services/StorageService';
import { VeoService } from '../../src/services/VeoService';
import type { EmulatedMessage } from '../emulators/discord';
import type { Fate, GoogleEmulator } from '../emulators/google';
import { silentLogger } from './db';
import { WORLD, type E2EWorld } from './e2e';
import { isResult } from './videoReplies';

export const MODEL = 'veo-3.1-fast-generate-001';

/** Whatever runs SQL on the bot's database: a TypeORM DataSource, or a query function around a pg client. */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/** The real Veo/Storage clients with the bot's settings, and the emulator behind them, to submit "before the crash". */
export interface GoogleClients {
  veo: VeoService;
  storage: StorageService;
  google: GoogleEmulator;
}

export interface SeedRow {
  status?: string;
  prompt?: string;
  userId?: string;
  guildId?: string;
  channelId?: string;
  operationName?: string | null;
  gcsPrefix?: string | null;
  videoUrls?: string[] | null;
  model?: string | null;
  durationSeconds?: number;
  aspectRatio?: string;
  resolution?: string;
  negativePrompt?: string | null;
  seed?: number | null;
  /** how long before now the request was made (default five minutes) */
  ageHours?: number;
  /** default: 0 for a pending row, 1 otherwise */
  submitAttempts?: number;
  announcement?: 'due' | null;
}

const DEFAULT_PROMPT = 'a kite over the dunes';

/**
 * Inserts a request row as a dead instance left it (lease run out, no interaction token, so the bot announces it with
 * a channel message). Plain SQL, so tests can also write rows the bot itself never would.
 */
export async function insertDeadInstanceRow(db: Queryable, spec: SeedRow = {}): Promise<string> {
  const status = spec.status ?? 'pending';
  const [r] = (await db.query(
    `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution,
       generate_audio, status, operation_name, gcs_prefix, video_urls, model, negative_prompt, seed, created_at, started_at,
       completed_at, lease_owner, lease_expires_at, fence, submit_attempts, announcement)
     VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $9, $10, $11, $12, $13, $14,
       now() - $15::double precision * interval '1 hour', CASE WHEN $8 <> 'pending' THEN now() END,
       CASE WHEN $8 = 'completed' THEN now() END, 'dead-instance', now() - interval '1 second', 2,
       COALESCE($16, CASE WHEN $8 = 'pending' THEN 0 ELSE 1 END), $17)
     RETURNING id`,
    [
      spec.userId ?? WORLD.users.member.id,
      spec.guildId ?? WORLD.guilds.main.id,
      spec.channelId ?? WORLD.guilds.main.channels.general.id,
      spec.prompt ?? DEFAULT_PROMPT,
      spec.durationSeconds ?? 4,
      spec.aspectRatio ?? '16:9',
      spec.resolution ?? '720p',
      status,
      spec.operationName ?? null,
      spec.gcsPrefix ?? null,
      spec.videoUrls ?? null,
      spec.model === undefined ? MODEL : spec.model,
      spec.negativePrompt ?? null,
      spec.seed ?? null,
      spec.ageHours ?? 5 / 60,
      spec.submitAttempts ?? null,
      spec.announcement ?? null,
    ],
  )) as { id: string }[];
  return r!.id;
}

/**
 * Submits a Veo operation for a request on the emulator, as the dead instance did before it died (`fate` scripts that
 * operation; without it the emulator's default fate applies). Returns the operation's name and output folder.
 */
export async function submitOperationFor(
  clients: GoogleClients,
  id: string,
  fate: Fate | undefined,
  spec: Pick<SeedRow, 'prompt' | 'userId' | 'guildId' | 'channelId'> = {},
): Promise<{ operationName: string; prefix: string }> {
  const { veo, storage, google } = clients;
  const prefix = storage.outputPrefix(
    {
      guildId: spec.guildId ?? WORLD.guilds.main.id,
      channelId: spec.channelId ?? WORLD.guilds.main.channels.general.id,
      userId: spec.userId ?? WORLD.users.member.id,
      requestId: id,
    },
    1,
  );
  if (fate) google.scriptNext(fate);
  const operationName = await veo.startGeneration(
    {
      prompt: spec.prompt ?? DEFAULT_PROMPT,
      model: MODEL,
      durationSeconds: 4,
      aspectRatio: '16:9',
      resolution: '720p',
      generateAudio: true,
      negativePrompt: null,
      seed: null,
    },
    storage.outputUri(prefix),
  );
  return { operationName, prefix };
}

/**
 * A generating row whose operation really exists on the emulator: inserted pending, submitted, then recorded the way
 * the bot records an accepted submit (status generating with its operation name, attempt 1 accepted). Counts as that
 * request's one submit.
 */
export async function insertGeneratingRow(
  db: Queryable,
  clients: GoogleClients,
  fate: Fate | undefined,
  spec: SeedRow = {},
): Promise<{ id: string; operationName: string }> {
  const id = await insertDeadInstanceRow(db, { ...spec, status: 'pending' });
  const { operationName, prefix } = await submitOperationFor(clients, id, fate, spec);
  await db.query(
    `UPDATE video_requests SET status = 'generating', operation_name = $2, gcs_prefix = $3, started_at = now(), submit_attempts = 1 WHERE id = $1`,
    [id, operationName, prefix],
  );
  await db.query(
    `INSERT INTO video_request_attempts (request_id, attempt, output_prefix, state, operation_name, accepted_at) VALUES ($1, 1, $2, 'accepted', $3, now())`,
    [id, prefix, operationName],
  );
  return { id, operationName };
}

/** The Veo/Storage clients the bot in this world gets, and its Google emulator. */
export function googleClients(world: E2EWorld): GoogleClients {
  const config = loadConfig(world.env());
  return {
    veo: VeoService.create(config.google, silentLogger()),
    storage: StorageService.create(config.google, config.video, silentLogger()),
    google: world.google,
  };
}

/** insertDeadInstanceRow on the world's database. */
export function seedRow(world: E2EWorld, spec: SeedRow = {}): Promise<string> {
  return insertDeadInstanceRow(world.db.database.dataSource, spec);
}

/** insertGeneratingRow on the world's database and emulator. */
export function seedGeneratingRow(
  world: E2EWorld,
  fate: Fate | undefined,
  spec: SeedRow = {},
): Promise<{ id: string; operationName: string }> {
  return insertGeneratingRow(world.db.database.dataSource, googleClients(world), fate, spec);
}

/** Veo submits whose output folder belongs to this request. */
export function submitsFor(world: E2EWorld, id: string): number {
  return world.google.submits.filter((s) => String(s.parameters.storageUri).includes(id)).length;
}

/**
 * Every result message (channel message or interaction reply) carrying this request's marker: progress embeds and
 * the pointer a resumed request's old reply becomes ("Finished after a bot restart", not a result) excluded.
 */
export function resultMessages(world: E2EWorld, id: string): EmulatedMessage[] {
  return world.discord
    .messages()
    .filter(
      (m) =>
        m.authorId === WORLD.botUserId &&
        m.embeds.some((e) => String(e?.footer?.text ?? '').includes(id) && isResult(m)),
    );
}

export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface RowState {
  id: string;
  status: string;
  announcement: string | null;
  error_message: string | null;
  notification_error: string | null;
  submit_attempts: number;
  failure_kind: string | null;
}

export async function rowStates(world: E2EWorld, ids: string[]): Promise<RowState[]> {
  return (await world.db.database.dataSource.query(
    `SELECT id, status, announcement, error_message, notification_error, submit_attempts, failure_kind
       FROM video_requests WHERE id = ANY($1::uuid[]) ORDER BY array_position($1::uuid[], id)`,
    [ids],
  )) as RowState[];
}
