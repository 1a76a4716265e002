import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { DiscordAPIError, Routes, type APIEmbed, type APIMessage, type REST, type RouteLike } from 'discord.js';
import type { Logger } from 'pino';
import { isResultEmbed, pointerEmbed, resultEmbed } from '../lib/messages';
import type { Metrics } from '../lib/metrics';
import type { VideoRequestRow } from './RequestTrackingService';
import type { PreparedVideo, VideoAttachmentService } from './VideoAttachmentService';

/** Interaction tokens live 15 minutes; edit the original reply only while a minute of that is left. */
export const INTERACTION_EDIT_WINDOW_MS = 60_000;

/** Discord error codes after which retrying the same message can never work. */
const PERMANENT_CODES = new Set([50001, 50013, 10003, 50007, 10004, 50008]);
/** Codes that mean the interaction token can no longer be used; the channel path still can. */
const TOKEN_GONE_CODES = new Set([10062, 10015, 50027, 10008]);

interface VideoFile {
  name: string;
  path: string;
}

export class NotificationError extends Error {
  public constructor(
    message: string,
    public readonly permanent: boolean,
    public readonly code?: number | string,
  ) {
    super(message);
    this.name = 'NotificationError';
  }
}

export interface AnnouncementResult {
  messageId: string;
  path: 'interaction' | 'channel';
  deliveredAs?: 'attachment' | 'link';
  /** true when an earlier attempt's message was found and reused instead of posting again */
  deduplicated: boolean;
}

export interface NotificationServiceOptions {
  rest: REST;
  /** The application (= bot user) id, known once the gateway is ready. */
  applicationId: () => string | null;
  attachments: VideoAttachmentService;
  logger: Logger;
  metrics?: Metrics;
  now?: () => number;
}

/**
 * Discord allows at most 25 characters. The same announcement always gets the same nonce; a request announced
 * twice for different ends (timed out, then delivered late) gets two.
 */
export function announcementNonce(requestId: string, status: string): string {
  return `vb${createHash('sha256').update(`${requestId}:${status}`).digest('hex').slice(0, 23)}`;
}

/**
 * Tells a requester how their request ended (rules in `announce`). Safe to call again after a crash: the interaction
 * edit is idempotent, channel sends carry a nonce Discord deduplicates, and a retry first looks for its earlier
 * message (in the channel, or in the live reply).
 */
export class NotificationService {
  private readonly now: () => number;

  public constructor(private readonly options: NotificationServiceOptions) {
    this.now = options.now ?? Date.now;
  }

  public canEditInteraction(row: VideoRequestRow): boolean {
    if (!row.interactionToken || !row.interactionExpiresAt) return false;
    return new Date(row.interactionExpiresAt).getTime() - this.now() > INTERACTION_EDIT_WINDOW_MS;
  }

  /**
   * A live request (the requester is watching its progress embed) ends by editing that reply. A resumed request
   * ends with a channel message that mentions the requester, because an edit notifies nobody and they may have
   * walked away; its stale progress reply, while the token still works, becomes a pointer to that message. If the
   * channel refuses the message for good, the result goes into the reply instead, so it is not lost.
   */
  public async announce(row: VideoRequestRow, context: { resumed: boolean }): Promise<AnnouncementResult> {
    const video = row.status === 'completed' && row.videoUrls?.[0] ? await this.prepareVideo(row) : undefined;
    try {
      return await this.deliver(row, context, video);
    } finally {
      if (video?.kind === 'attachment') await video.release().catch(() => undefined);
    }
  }

  private async deliver(
    row: VideoRequestRow,
    context: { resumed: boolean },
    video: PreparedVideo | undefined,
  ): Promise<AnnouncementResult> {
    const canEdit = this.canEditInteraction(row);
    if (context.resumed && canEdit && row.notificationAttempts > 0) {
      // The bot died after an earlier attempt: if the live reply already shows the result, the requester saw it.
      const shown = await this.resultInOriginal(row).catch(() => undefined);
      if (shown) {
        this.options.metrics?.notifications.inc({ path: 'interaction', result: 'deduped' });
        return { messageId: shown.id, path: 'interaction', deliveredAs: video?.kind, deduplicated: true };
      }
    }

    if (canEdit && !context.resumed) {
      try {
        return await this.editOriginal(row, context, video);
      } catch (error) {
        if (!this.tokenGone(error, row)) throw this.classify(error, 'interaction');
      }
    }
    try {
      const result = await this.sendChannelMessage(row, context, video);
      if (canEdit && context.resumed) await this.pointOriginalTo(row, result.messageId);
      return result;
    } catch (error) {
      if (!(canEdit && context.resumed && error instanceof NotificationError && error.permanent)) throw error;
      this.options.logger.warn(
        { requestId: row.id, err: error },
        'the channel refused the result; showing it in the original reply',
      );
      try {
        return await this.editOriginal(row, context, video);
      } catch {
        throw error;
      }
    }
  }

  /**
   * Sends JSON, or multipart with the video streamed from its temporary file (a file-backed Blob): @discordjs/rest
   * would copy a Buffer into a Blob, holding the video in memory twice.
   */
  private async sendWithFiles(
    method: 'post' | 'patch',
    route: RouteLike,
    auth: boolean,
    payload: { body: Record<string, unknown>; files: VideoFile[] },
  ): Promise<unknown> {
    if (payload.files.length === 0) return this.options.rest[method](route, { body: payload.body, auth });
    const form = new FormData();
    form.append('payload_json', JSON.stringify(payload.body));
    for (const [index, file] of payload.files.entries()) {
      form.append(`files[${index}]`, await openAsBlob(file.path, { type: 'video/mp4' }), file.name);
    }
    return this.options.rest[method](route, { body: form, passThroughBody: true, auth });
  }

  private tokenGone(error: unknown, row: VideoRequestRow): boolean {
    const gone = error instanceof DiscordAPIError && TOKEN_GONE_CODES.has(Number(error.code));
    this.options.metrics?.notifications.inc({ path: 'interaction', result: gone ? 'token_gone' : 'failed' });
    if (gone)
      this.options.logger.info(
        { requestId: row.id, code: (error as DiscordAPIError).code },
        'interaction token no longer usable; posting in the channel',
      );
    return gone;
  }

  /** Best effort: the old progress embed would otherwise say "Generating" for ever. Never pings, never fails the announcement. */
  private async pointOriginalTo(row: VideoRequestRow, messageId: string): Promise<void> {
    const appId = row.applicationId ?? this.options.applicationId();
    if (!appId) return;
    const link = `https://discord.com/channels/${row.guildId}/${row.channelId}/${messageId}`;
    try {
      await this.options.rest.patch(Routes.webhookMessage(appId, row.interactionToken!, '@original'), {
        body: {
          content: '',
          embeds: [pointerEmbed(row, link)],
          components: [],
          attachments: [],
          allowed_mentions: { parse: [] },
        },
        auth: false,
      });
    } catch (error) {
      this.options.logger.debug({ requestId: row.id, err: error }, 'could not point the original reply to the result');
    }
  }

  private async prepareVideo(row: VideoRequestRow): Promise<PreparedVideo> {
    const video = await this.options.attachments.prepare(
      row.videoUrls![0]!,
      row.attachmentSizeLimit,
      row.videoSizeBytes,
    );
    if (video.kind === 'link') this.options.metrics?.uploadFallbacks.inc({ reason: video.reason });
    return video;
  }

  private async toLink(video: PreparedVideo, reason: 'too_large'): Promise<PreparedVideo> {
    if (video.kind === 'link') return video;
    this.options.metrics?.uploadFallbacks.inc({ reason });
    return {
      kind: 'link',
      url: await this.options.attachments.linkFor(video.gsUri),
      size: video.size,
      gsUri: video.gsUri,
      reason,
    };
  }

  private payload(row: VideoRequestRow, context: { resumed: boolean }, video: PreparedVideo | undefined) {
    const embed: APIEmbed = resultEmbed(row, {
      resumed: context.resumed,
      link: video?.kind === 'link' ? video.url : undefined,
      linkReason: video?.kind === 'link' ? video.reason : undefined,
    });
    const files: VideoFile[] = video?.kind === 'attachment' ? [{ name: video.name, path: video.path }] : [];
    const verb =
      row.status === 'completed'
        ? 'your video is ready'
        : row.status === 'timeout'
          ? 'your video request timed out'
          : 'your video could not be made';
    return { embed, files, content: `<@${row.userId}> ${verb}.` };
  }

  private async editOriginal(
    row: VideoRequestRow,
    context: { resumed: boolean },
    video: PreparedVideo | undefined,
  ): Promise<AnnouncementResult> {
    const appId = row.applicationId ?? this.options.applicationId();
    if (!appId) throw new NotificationError('application id unknown', false);
    const send = async (v: PreparedVideo | undefined) => {
      const { embed, files, content } = this.payload(row, context, v);
      return (await this.sendWithFiles(
        'patch',
        Routes.webhookMessage(appId, row.interactionToken!, '@original'),
        false,
        {
          body: {
            content,
            embeds: [embed],
            components: [],
            attachments: files.map((f, i) => ({ id: i, filename: f.name })),
            allowed_mentions: { parse: [], users: [row.userId] },
          },
          files,
        },
      )) as APIMessage;
    };
    let current = video;
    let message: APIMessage;
    try {
      message = await send(current);
    } catch (error) {
      if (!(current?.kind === 'attachment' && isTooLarge(error))) throw error;
      current = await this.toLink(current, 'too_large');
      message = await send(current);
    }
    this.options.metrics?.notifications.inc({ path: 'interaction', result: 'sent' });
    return { messageId: message.id, path: 'interaction', deliveredAs: current?.kind, deduplicated: false };
  }

  /**
   * The seed's `sendChannelMessage`: posts in the original channel, mentioning only the requester.
   */
  public async sendChannelMessage(
    row: VideoRequestRow,
    context: { resumed: boolean },
    video?: PreparedVideo,
  ): Promise<AnnouncementResult> {
    if (!row.channelId) throw new NotificationError('the request has no channel to post in', true);
    if (row.notificationAttempts > 0) {
      // An earlier attempt may have posted before the bot died, outside Discord's nonce window: look first.
      const earlier = await this.findEarlierAnnouncement(row).catch(() => undefined);
      if (earlier) {
        this.options.metrics?.notifications.inc({ path: 'channel', result: 'deduped' });
        return { messageId: earlier.id, path: 'channel', deliveredAs: video?.kind, deduplicated: true };
      }
    }
    const send = async (v: PreparedVideo | undefined) => {
      const { embed, files, content } = this.payload(row, context, v);
      return (await this.sendWithFiles('post', Routes.channelMessages(row.channelId), true, {
        body: {
          content,
          embeds: [embed],
          allowed_mentions: { parse: [], users: [row.userId] },
          nonce: announcementNonce(row.id, row.status),
          enforce_nonce: true,
          attachments: files.map((f, i) => ({ id: i, filename: f.name })),
        },
        files,
      })) as APIMessage;
    };
    let current = video;
    try {
      let message: APIMessage;
      try {
        message = await send(current);
      } catch (error) {
        // Too large for this channel, or no Attach Files permission: a link still tells the requester.
        const missingAttach =
          error instanceof DiscordAPIError && error.code === 50013 && current?.kind === 'attachment';
        if (!(current?.kind === 'attachment' && (isTooLarge(error) || missingAttach))) throw error;
        current = await this.toLink(current, 'too_large');
        message = await send(current);
      }
      this.options.metrics?.notifications.inc({ path: 'channel', result: 'sent' });
      return { messageId: message.id, path: 'channel', deliveredAs: current?.kind, deduplicated: false };
    } catch (error) {
      this.options.metrics?.notifications.inc({ path: 'channel', result: 'failed' });
      throw this.classify(error, 'channel');
    }
  }

  private async resultInOriginal(row: VideoRequestRow): Promise<APIMessage | undefined> {
    const appId = row.applicationId ?? this.options.applicationId();
    if (!appId) return undefined;
    const original = (await this.options.rest.get(Routes.webhookMessage(appId, row.interactionToken!, '@original'), {
      auth: false,
    })) as APIMessage;
    return original.embeds?.some((e) => isResultEmbed(e, row)) ? original : undefined;
  }

  private async findEarlierAnnouncement(row: VideoRequestRow): Promise<APIMessage | undefined> {
    const appId = row.applicationId ?? this.options.applicationId();
    const messages = (await this.options.rest.get(Routes.channelMessages(row.channelId), {
      query: new URLSearchParams({ limit: '50' }),
    })) as APIMessage[];
    // Only the bot's own channel messages (interaction replies carry the marker too), with this state's result.
    return messages.find(
      (m) =>
        (!appId || m.author?.id === appId) &&
        !m.webhook_id &&
        !m.interaction_metadata &&
        m.embeds?.some((e) => isResultEmbed(e, row)),
    );
  }

  private classify(error: unknown, path: 'interaction' | 'channel'): NotificationError {
    if (error instanceof NotificationError) return error;
    if (error instanceof DiscordAPIError) {
      const permanent =
        PERMANENT_CODES.has(Number(error.code)) || (error.status >= 400 && error.status < 500 && error.status !== 429);
      return new NotificationError(
        `Discord refused the ${path} message: ${error.message} (code ${error.code})`,
        permanent,
        error.code,
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    return new NotificationError(`could not reach Discord for the ${path} message: ${message}`, false);
  }
}

function isTooLarge(error: unknown): boolean {
  return error instanceof DiscordAPIError && (error.status === 413 || error.code === 40005);
}
