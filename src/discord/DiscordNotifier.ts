import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { DiscordAPIError, RESTJSONErrorCodes, Routes, type APIMessage, type REST, type RouteLike } from 'discord.js';
import type { Logger } from 'pino';
import { DeliveryError } from '../domain/errors';
import type { AnnouncementResult, Notifier, PreparedVideo, Thumbnail, VideoDelivery } from '../domain/ports';
import type { VideoRequestRow } from '../domain/request';
import type { Metrics } from '../lib/metrics';
import { isResultEmbed, pointerEmbed, resultMessage } from './embeds';
import { isTokenGone, tokenUsable } from './interactionToken';
import { resultComponents } from './iterationViews';

/** Discord error codes after which retrying the same message can never work. */
const PERMANENT_CODES = new Set<number>([
  RESTJSONErrorCodes.MissingAccess,
  RESTJSONErrorCodes.MissingPermissions,
  RESTJSONErrorCodes.UnknownChannel,
  RESTJSONErrorCodes.CannotSendMessagesToThisUser,
  RESTJSONErrorCodes.UnknownGuild,
  RESTJSONErrorCodes.CannotSendMessagesInNonTextChannel,
]);

/** A file to upload: the video (streamed from its temporary file) or the first frame (in memory). */
type UploadFile = { name: string; contentType: string } & ({ path: string } | { data: Buffer });

export interface DiscordNotifierOptions {
  rest: REST;
  /** The application (= bot user) id, known once the gateway is ready. */
  applicationId: () => string | null;
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
 * Tells a requester how their request ended, through Discord's REST API (rules in `announce`). Safe to call again
 * after a crash: the interaction edit is idempotent, channel sends carry a nonce Discord deduplicates, and a retry
 * first looks for its earlier message (in the channel, or in the live reply).
 */
export class DiscordNotifier implements Notifier {
  private readonly now: () => number;

  public constructor(private readonly options: DiscordNotifierOptions) {
    this.now = options.now ?? Date.now;
  }

  private canEditInteraction(row: VideoRequestRow): boolean {
    return row.interactionToken !== null && tokenUsable(row.interactionExpiresAt, this.now());
  }

  /**
   * A live request (the requester is watching its progress embed) ends by editing that reply. A resumed request
   * ends with a channel message that mentions the requester, because an edit notifies nobody and they may have
   * walked away; its stale progress reply, while the token still works, becomes a pointer to that message. If the
   * channel refuses the message for good, the result goes into the reply instead, so it is not lost.
   */
  public async announce(
    row: VideoRequestRow,
    context: { resumed: boolean },
    video?: VideoDelivery,
    thumbnail?: Thumbnail,
  ): Promise<AnnouncementResult> {
    const canEdit = this.canEditInteraction(row);
    if (context.resumed && canEdit && row.notificationAttempts > 0) {
      // The bot died after an earlier attempt: if the live reply already shows the result, the requester saw it.
      const shown = await this.resultInOriginal(row).catch(() => undefined);
      if (shown) {
        this.options.metrics?.notifications.inc({ path: 'interaction', result: 'deduped' });
        return { messageId: shown.id, path: 'interaction', deliveredAs: video?.video.kind, deduplicated: true };
      }
    }

    if (canEdit && !context.resumed) {
      try {
        return await this.editOriginal(row, context, video, thumbnail);
      } catch (error) {
        if (!this.tokenGone(error, row)) throw this.classify(error, 'interaction');
      }
    }
    try {
      const result = await this.sendChannelMessage(row, context, video, thumbnail);
      if (canEdit && context.resumed) await this.pointOriginalTo(row, result.messageId);
      return result;
    } catch (error) {
      if (!(canEdit && context.resumed && error instanceof DeliveryError && error.permanent)) throw error;
      this.options.logger.warn(
        { request_id: row.id, err: error },
        'the channel refused the result; showing it in the original reply',
      );
      try {
        return await this.editOriginal(row, context, video, thumbnail);
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
    payload: { body: Record<string, unknown>; files: UploadFile[] },
  ): Promise<unknown> {
    if (payload.files.length === 0) return this.options.rest[method](route, { body: payload.body, auth });
    const form = new FormData();
    form.append('payload_json', JSON.stringify(payload.body));
    for (const [index, file] of payload.files.entries()) {
      const blob =
        'path' in file
          ? await openAsBlob(file.path, { type: file.contentType })
          : new Blob([file.data], { type: file.contentType });
      form.append(`files[${index}]`, blob, file.name);
    }
    return this.options.rest[method](route, { body: form, passThroughBody: true, auth });
  }

  private tokenGone(error: unknown, row: VideoRequestRow): boolean {
    const gone = isTokenGone(error);
    this.options.metrics?.notifications.inc({ path: 'interaction', result: gone ? 'token_gone' : 'failed' });
    if (gone)
      this.options.logger.info(
        { request_id: row.id, code: (error as DiscordAPIError).code },
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
      this.options.logger.debug({ request_id: row.id, err: error }, 'could not point the original reply to the result');
    }
  }

  /** The result message: content, embed, its buttons (resultComponents) and files (the video, the first frame). */
  private payload(
    row: VideoRequestRow,
    context: { resumed: boolean },
    video: PreparedVideo | undefined,
    thumbnail: Thumbnail | undefined,
  ) {
    const { content, embed } = resultMessage(row, {
      resumed: context.resumed,
      link: video?.kind === 'link' ? { url: video.url, reason: video.reason, size: video.size } : undefined,
      thumbnail: thumbnail?.name,
    });
    const files: UploadFile[] =
      video?.kind === 'attachment' ? [{ name: video.name, path: video.path, contentType: 'video/mp4' }] : [];
    if (thumbnail) files.push({ name: thumbnail.name, data: thumbnail.data, contentType: imageType(thumbnail.name) });
    return { embed, files, content, components: resultComponents(row) };
  }

  /**
   * Sends with the video attached; when Discord refuses the attachment (too large for this channel, or, with
   * `missingAttachCounts`, no Attach Files permission), sends again with a link instead.
   */
  private async sendVideo(
    video: VideoDelivery | undefined,
    send: (current: PreparedVideo | undefined) => Promise<APIMessage>,
    missingAttachCounts: boolean,
  ): Promise<{ message: APIMessage; current: PreparedVideo | undefined }> {
    const current = video?.video;
    try {
      return { message: await send(current), current };
    } catch (error) {
      const missingAttach =
        missingAttachCounts &&
        error instanceof DiscordAPIError &&
        error.code === RESTJSONErrorCodes.MissingPermissions &&
        current?.kind === 'attachment';
      if (!(video && current?.kind === 'attachment' && (isTooLarge(error) || missingAttach))) throw error;
      const link = await video.asLink('too_large');
      return { message: await send(link), current: link };
    }
  }

  private async editOriginal(
    row: VideoRequestRow,
    context: { resumed: boolean },
    video: VideoDelivery | undefined,
    thumbnail: Thumbnail | undefined,
  ): Promise<AnnouncementResult> {
    const appId = row.applicationId ?? this.options.applicationId();
    if (!appId) throw new DeliveryError('application id unknown', false);
    const { message, current } = await this.sendVideo(
      video,
      async (v) => {
        const { embed, files, content, components } = this.payload(row, context, v, thumbnail);
        return (await this.sendWithFiles(
          'patch',
          Routes.webhookMessage(appId, row.interactionToken!, '@original'),
          false,
          {
            body: {
              content,
              embeds: [embed],
              components,
              attachments: files.map((f, i) => ({ id: i, filename: f.name })),
              allowed_mentions: { parse: [], users: [row.userId] },
            },
            files,
          },
        )) as APIMessage;
      },
      false,
    );
    this.options.metrics?.notifications.inc({ path: 'interaction', result: 'sent' });
    return { messageId: message.id, path: 'interaction', deliveredAs: current?.kind, deduplicated: false };
  }

  /** R5: posts in the original channel, mentioning only the requester. */
  public async sendChannelMessage(
    row: VideoRequestRow,
    context: { resumed: boolean },
    video?: VideoDelivery,
    thumbnail?: Thumbnail,
  ): Promise<AnnouncementResult> {
    if (!row.channelId) throw new DeliveryError('the request has no channel to post in', true);
    if (row.notificationAttempts > 0) {
      // An earlier attempt may have posted before the bot died, outside Discord's nonce window: look first.
      const earlier = await this.findEarlierAnnouncement(row).catch(() => undefined);
      if (earlier) {
        this.options.metrics?.notifications.inc({ path: 'channel', result: 'deduped' });
        return { messageId: earlier.id, path: 'channel', deliveredAs: video?.video.kind, deduplicated: true };
      }
    }
    try {
      const { message, current } = await this.sendVideo(
        video,
        async (v) => {
          const { embed, files, content, components } = this.payload(row, context, v, thumbnail);
          return (await this.sendWithFiles('post', Routes.channelMessages(row.channelId), true, {
            body: {
              content,
              embeds: [embed],
              components,
              allowed_mentions: { parse: [], users: [row.userId] },
              nonce: announcementNonce(row.id, row.status),
              enforce_nonce: true,
              attachments: files.map((f, i) => ({ id: i, filename: f.name })),
            },
            files,
          })) as APIMessage;
        },
        // Too large for this channel, or no Attach Files permission: a link still tells the requester.
        true,
      );
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

  private classify(error: unknown, path: 'interaction' | 'channel'): DeliveryError {
    if (error instanceof DeliveryError) return error;
    if (error instanceof DiscordAPIError) {
      const permanent =
        PERMANENT_CODES.has(Number(error.code)) || (error.status >= 400 && error.status < 500 && error.status !== 429);
      return new DeliveryError(
        `Discord refused the ${path} message: ${error.message} (code ${error.code})`,
        permanent,
        error.code,
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    return new DeliveryError(`could not reach Discord for the ${path} message: ${message}`, false);
  }
}

function isTooLarge(error: unknown): boolean {
  return (
    error instanceof DiscordAPIError &&
    (error.status === 413 || error.code === RESTJSONErrorCodes.RequestEntityTooLarge)
  );
}

function imageType(name: string): string {
  if (name.endsWith('.png')) return 'image/png';
  if (name.endsWith('.webp')) return 'image/webp';
  return 'image/jpeg';
}
