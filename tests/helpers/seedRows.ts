import { loadConfig } from '../../src/lib/config';
import { StorageService } from '../../src/services/StorageService';
import { VeoService } from '../../src/services/VeoService';
import type { EmulatedMessage } from '../emulators/discord';
import type { Fate } from '../emulators/google';
import { silentLogger } from './db';
import { WORLD, type E2EWorld } from './e2e';
import { isResult } from './videoReplies';

export const MODEL = 'veo-3.1-fast-generate-001';

export interface SeedRow {
  status?: string;
  prompt?: string;
  userId?: string;
  guildId?: string;
  channelId?: string;
  operationName?: string | null;
  model?: string | null;
}

/**
 * Inserts a request row as a dead instance left it (lease run out, no interaction token, so the bot announces it with
 * a channel message). Plain SQL, so tests can also write rows the bot itself never would.
 */
export async function seedRow(world: E2EWorld, spec: SeedRow = {}): Promise<string> {
  const status = spec.status ?? 'pending';
  const [r] = (await world.db.database.dataSource.query(
    `INSERT INTO video_requests (user_id, guild_id, channel_id, prompt, duration_seconds, aspect_ratio, resolution, status,
       operation_name, model, created_at, started_at, lease_owner, lease_expires_at, fence, submit_attempts)
     VALUES ($1, $2, $3, $4, 4, '16:9', '720p', $5, $6, $7, now() - interval '5 minutes',
       CASE WHEN $5 <> 'pending' THEN now() END, 'dead-instance', now() - interval '1 second', 2,
       CASE WHEN $5 = 'pending' THEN 0 ELSE 1 END)
     RETURNING id`,
    [
      spec.userId ?? WORLD.users.member.id,
      spec.guildId ?? WORLD.guilds.main.id,
      spec.channelId ?? WORLD.guilds.main.channels.general.id,
      spec.prompt ?? 'a kite over the dunes',
      status,
      spec.operationName ?? null,
      spec.model === undefined ? MODEL : spec.model,
    ],
  )) as { id: string }[];
  return r!.id;
}

/**
 * Submits a Veo operation for a row on the emulator, as the dead instance did before it died, and records it on the
 * row (status generating with its operation name). Counts as that request's one submit.
 */
export async function seedGeneratingRow(
  world: E2EWorld,
  fate: Fate,
  spec: SeedRow = {},
): Promise<{ id: string; operationName: string }> {
  const id = await seedRow(world, { ...spec, status: 'pending' });
  const config = loadConfig(world.env());
  const veo = VeoService.create(config.google, silentLogger());
  const storage = StorageService.create(config.google, config.video, silentLogger());
  const prefix = storage.outputPrefix(
    {
      guildId: spec.guildId ?? WORLD.guilds.main.id,
      channelId: spec.channelId ?? WORLD.guilds.main.channels.general.id,
      userId: spec.userId ?? WORLD.users.member.id,
      requestId: id,
    },
    1,
  );
  world.google.scriptNext(fate);
  const operationName = await veo.startGeneration(
    {
      prompt: spec.prompt ?? 'a kite over the dunes',
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
  await world.db.database.dataSource.query(
    `UPDATE video_requests SET status = 'generating', operation_name = $2, gcs_prefix = $3, started_at = now(), submit_attempts = 1 WHERE id = $1`,
    [id, operationName, prefix],
  );
  return { id, operationName };
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
