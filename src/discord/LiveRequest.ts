import {
  DiscordAPIError,
  MessageFlags,
  RESTJSONErrorCodes,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type ModalSubmitInteraction,
} from 'discord.js';
import type { Logger } from 'pino';
import type { ProgressObserver, Thumbnail } from '../domain/ports';
import type { LeasedRequest } from '../domain/request';
import { interactionExpiresAt } from './interactionToken';
import { LiveProgress } from './LiveProgress';

/** How long the first progress render may hold the worker back (Discord normally answers within a fraction of it). */
const FIRST_RENDER_WAIT_MS = 2_000;

/** The interactions that start a request: `/video`, a result button, the Edit prompt modal. */
export type StartingInteraction = ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction;

/** Where a request comes from, as the services record it (VideoRequestService's InteractionContext). */
export function interactionContext(interaction: StartingInteraction & { guildId: string }) {
  return {
    guildId: interaction.guildId,
    channelId: interaction.channelId!,
    userId: interaction.user.id,
    applicationId: interaction.applicationId,
    interactionToken: interaction.token,
    interactionExpiresAt: interactionExpiresAt(interaction.createdAt),
    interactionId: interaction.id,
    attachmentSizeLimit: interaction.attachmentSizeLimit ?? null,
  };
}

/** What starting a recorded request needs from the services. */
export interface RequestRunner {
  run(recorded: LeasedRequest, observer?: ProgressObserver): { requestId: string };
  noteReplyMessage(requestId: string, messageId: string): Promise<void>;
}

export interface StartOptions {
  runner: RequestRunner;
  progressEditIntervalMs: number;
  logger: Logger;
  /**
   * the first frame for the progress embed, when it is in the bucket already (a press on a result); read after
   * acknowledging: Discord waits 3 seconds, no more. `/video image:` gets it from the worker (onThumbnail).
   */
  thumbnail?: () => Promise<Thumbnail | undefined>;
}

/**
 * A recorded request goes live: the interaction is acknowledged (a public "thinking…" reply), the reply shows the
 * progress embed (with Cancel while queued) and the generation runs in the background. If Discord refuses the
 * acknowledgement, the request runs all the same and its result goes to the channel.
 */
export async function startLiveRequest(
  interaction: StartingInteraction,
  recorded: LeasedRequest,
  options: StartOptions,
): Promise<void> {
  const { runner, logger } = options;
  let messageId: string | null;
  try {
    messageId = (await interaction.deferReply({ withResponse: true })).resource?.message?.id ?? null;
  } catch (error) {
    // Too late for Discord: the request is recorded all the same; its result goes to the channel.
    logger.warn(
      { err: error, request_id: recorded.row.id },
      'could not acknowledge the interaction; generating anyway, the result will be posted in the channel',
    );
    runner.run(recorded);
    return;
  }
  if (messageId) await runner.noteReplyMessage(recorded.row.id, messageId);
  const thumbnail = await options.thumbnail?.().catch(() => undefined);
  const progress = new LiveProgress(
    interaction,
    Date.now(),
    options.progressEditIntervalMs,
    logger,
    Date.now,
    thumbnail,
  );
  await progress.onPhase('queued', recorded.row);
  // The requester sees the request (and its Cancel button) before the worker may send it to Veo.
  await progress.shown(FIRST_RENDER_WAIT_MS);
  runner.run(recorded, progress);
}

/** A private answer to one user (a refusal), never pinging anyone. */
export function privately(content: string) {
  return { content, flags: MessageFlags.Ephemeral as const, allowedMentions: { parse: [] as [] } };
}

/**
 * Answers privately, once: every instance receives an interaction, so another one may have answered it already
 * (Discord refuses a second answer with 40060, which is then nothing to report).
 */
export async function answerPrivately(
  interaction: { reply(options: ReturnType<typeof privately>): Promise<unknown> },
  content: string,
): Promise<void> {
  try {
    await interaction.reply(privately(content));
  } catch (error) {
    if (error instanceof DiscordAPIError && error.code === RESTJSONErrorCodes.InteractionHasAlreadyBeenAcknowledged)
      return;
    throw error;
  }
}
