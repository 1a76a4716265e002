/** The embeds a requester sees: live progress, the result, and the pointer left on a stale progress reply. */
import type { APIEmbed } from 'discord.js';
import { audioWasFiltered, isCancelled, outputSeconds } from '../domain/iteration';
import type { Phase } from '../domain/ports';
import type { QueueInfo } from '../domain/spend';
import type { VideoRequestRow } from '../domain/request';
import { formatDuration } from '../domain/time';
import { clip, fitEmbed, LIMITS } from './limits';
import { queuedText } from './spendViews';
import { COLORS, displayText, requestMarker } from './text';

export function describeSettings(
  row: Pick<
    VideoRequestRow,
    | 'durationSeconds'
    | 'aspectRatio'
    | 'resolution'
    | 'generateAudio'
    | 'model'
    | 'sourceVideoSeconds'
    | 'imageUri'
    | 'lastFrameUri'
    | 'imageSourceUrl'
    | 'lastFrameSourceUrl'
  >,
): string {
  const extension = row.sourceVideoSeconds !== null && row.sourceVideoSeconds !== undefined;
  const parts = [
    extension
      ? `${row.sourceVideoSeconds} s + ${row.durationSeconds ?? 7} s = ${outputSeconds(row)} s (extended)`
      : `${row.durationSeconds ?? 8} s`,
    row.aspectRatio,
    row.resolution ?? '720p',
    row.generateAudio === false ? 'no audio' : 'audio',
  ];
  // An image still to be fetched from Discord (or that could not be) is part of the request all the same.
  if (row.imageUri || row.imageSourceUrl)
    parts.push(row.lastFrameUri || row.lastFrameSourceUrl ? 'first and last frame' : 'from an image');
  if (row.model) parts.push(row.model);
  return parts.join(' · ');
}

/** Typical Veo generation times, used only to draw an estimated progress bar. */
const TYPICAL_GENERATION_MS: Record<number, number> = { 4: 50_000, 6: 65_000, 8: 80_000 };

export function progressBar(elapsedMs: number, durationSeconds: number | null, width = 20): string {
  const typical = TYPICAL_GENERATION_MS[durationSeconds ?? 8] ?? 80_000;
  // Never show 100% before Veo says done: the estimate creeps towards 95%.
  const fraction = Math.min(0.95, elapsedMs / typical);
  const filled = Math.round(fraction * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${Math.round(fraction * 100)}%`;
}

const PHASE_TEXT: Record<Phase, string> = {
  queued: 'Queued',
  submitting: 'Sending to Veo',
  generating: 'Generating',
  downloading: 'Fetching the video',
  delivering: 'Uploading to Discord',
};

/**
/**
 * The live progress embed. Before the request is sent to Veo it offers Cancel (progressComponents); from the moment a
 * submit attempt is recorded Google may bill it, so it says the request can no longer be cancelled. While the request
 * waits for a submit permit (`queued` with its place), the Status says "Queued · position 4 · about 2 min" and the bar
 * stays empty: nothing is being made yet.
 */
export function progressEmbed(
  row: VideoRequestRow,
  phase: Phase,
  elapsedMs: number,
  thumbnail?: string,
  queue?: QueueInfo,
): APIEmbed {
  const fields = [
    { name: 'Status', value: phase === 'queued' && queue ? queuedText(queue) : PHASE_TEXT[phase], inline: true },
    { name: 'Elapsed', value: formatDuration(elapsedMs), inline: true },
    {
      name: 'Progress (estimate)',
      value: `\`${progressBar(phase === 'queued' ? 0 : elapsedMs, row.durationSeconds)}\``,
    },
    { name: 'Settings', value: describeSettings(row) },
  ];
  if (phase !== 'queued') {
    fields.push({ name: 'Cancel', value: 'No longer possible: the request went to Veo, which bills it.' });
  }
  return fitEmbed({
    title: '🎬 Making your video',
    color: COLORS.progress,
    description: `> ${displayText(row.prompt)}`,
    fields,
    ...(thumbnail ? { thumbnail: { url: `attachment://${thumbnail}` } } : {}),
    footer: { text: requestMarker(row.id) },
  });
}

export interface ResultOptions {
  resumed: boolean;
  /** a completed video that was not attached: where to fetch it, and why it is a link */
  link?: { url: string; reason: 'too_large' | 'download_failed'; size: number };
  /** the name of the attached first frame, shown as the thumbnail */
  thumbnail?: string;
}

/** The message that tells the requester how their request ended: its content (the mention) and its embed. */
export interface ResultMessage {
  content: string;
  embed: APIEmbed;
}

const MiB = 1024 * 1024;

/**
 * The result message. A link to a video too large to attach goes into the message content (a signed URL runs to
 * 1,100 characters or more, past an embed field's 1,024; content allows 2,000), or, were it longer still, into the
 * embed description (4,096): never cut, since a cut link is a lost video.
 */
export function resultMessage(row: VideoRequestRow, options: ResultOptions): ResultMessage {
  const verb =
    row.status === 'completed'
      ? 'your video is ready'
      : row.status === 'timeout'
        ? 'your video request timed out'
        : isCancelled(row)
          ? 'your video request was cancelled'
          : 'your video could not be made';
  const mention = `<@${row.userId}> ${verb}.`;
  const embed = resultEmbed(row, options);
  const link = options.link;
  if (!link) return { content: mention, embed: fitEmbed(embed) };
  const withLink = `<@${row.userId}> ${verb}: ${link.url}`;
  if (withLink.length <= LIMITS.content) return { content: withLink, embed: fitEmbed(embed) };
  const description = `${embed.description ?? ''}\n\n${link.url}`;
  if (link.url.length + 2 > LIMITS.description)
    throw new Error(`a download link of ${link.url.length} characters fits nowhere in a Discord message`);
  const room = LIMITS.description - link.url.length - 2;
  return {
    content: mention,
    embed: fitEmbed(
      {
        ...embed,
        description:
          description.length <= LIMITS.description
            ? description
            : `${clip(embed.description ?? '', room)}\n\n${link.url}`,
      },
      LIMITS.embedTotal,
    ),
  };
}

/** The embed that tells the requester how their request ended (its link, if any, travels in the message: resultMessage). */
export function resultEmbed(row: VideoRequestRow, options: ResultOptions): APIEmbed {
  const footer = [options.resumed ? 'Resumed after bot restart' : null, requestMarker(row.id)]
    .filter(Boolean)
    .join(' · ');
  const base = {
    description: `> ${displayText(row.prompt)}`,
    footer: { text: footer },
    ...(options.thumbnail ? { thumbnail: { url: `attachment://${options.thumbnail}` } } : {}),
  };
  const settings = { name: 'Settings', value: describeSettings(row) };
  if (row.status === 'completed') {
    const fields = [settings];
    if (row.durationMs) fields.push({ name: 'Took', value: formatDuration(row.durationMs) });
    if (row.expiredBy) {
      // Point 1 of issue #13: an admin's expiry never hides a video that was already paid for.
      fields.push({
        name: 'Note',
        value:
          'A server admin had stopped waiting for this video, but it was already paid for and finished, so here it is.',
      });
    }
    if (options.link) {
      const size = `${(options.link.size / MiB).toFixed(1)} MB`;
      fields.push({
        name: 'Video',
        value:
          options.link.reason === 'too_large'
            ? `Too large to attach here (${size}), so here is a link: it is in the message above.`
            : `It could not be attached, so here is a link: it is in the message above (${size}).`,
      });
    }
    return { ...base, title: resultTitle(row), color: COLORS.success, fields };
  }
  if (isCancelled(row)) {
    return {
      ...base,
      title: resultTitle(row),
      color: COLORS.warning,
      fields: [{ name: 'Why', value: plainReason(row) }, settings],
    };
  }
  const why = { name: 'Why', value: `${plainReason(row)} (reference \`${row.id.slice(0, 8)}\`)` };
  if (row.status === 'timeout') {
    return {
      ...base,
      title: resultTitle(row),
      color: COLORS.warning,
      fields: [
        why,
        settings,
        {
          name: 'What now',
          value:
            !row.operationName || row.failureKind === 'expired'
              ? 'Press **Retry**, or run `/video` again.'
              : row.failureKind === 'admin'
                ? 'It had already been sent to Veo and paid for, so it counts against your daily limit; if it still finishes, it will be posted here.'
                : 'Press **Retry**, or run `/video` again. If this video still finishes, it will be posted here.',
        },
      ],
    };
  }
  return {
    ...base,
    title: resultTitle(row),
    color: COLORS.failure,
    fields: [why, settings, { name: 'What now', value: retryHint(row) }],
  };
}

/**
 * What happened, in plain words chosen by the failure's code, never Google's own text (it can name projects, resource
 * paths and quotas): that stays in the logs and in `/resume status` for admins.
 */
export function plainReason(
  row: Pick<VideoRequestRow, 'status' | 'failureKind' | 'failureReason' | 'errorMessage'> &
    Partial<Pick<VideoRequestRow, 'generateAudio'>>,
): string {
  switch (row.failureReason) {
    case 'submit_attempts_exhausted':
      return 'The bot tried to send this to Veo several times without success.';
    case 'unsupported_ratio':
      return 'Veo cannot make this aspect ratio (only 16:9 and 9:16).';
    case 'unusable_row':
      return 'This request was stored in a form the bot cannot send to Veo.';
    case 'veo_refused':
      return row.failureKind === 'invalid'
        ? 'Veo refused this prompt or these settings.'
        : "Google's video service refused the request; the problem is on Google's side.";
    case 'model_unavailable':
      return 'The Veo model this request was made with is no longer available.';
    case 'veo_failed':
      return row.failureKind === 'invalid'
        ? 'Veo could not use this prompt or these settings.'
        : "Google's video service failed while making the video.";
    case 'filtered':
      return audioWasFiltered({ ...row, generateAudio: row.generateAudio ?? null })
        ? "Veo's safety filters blocked the sound of this video."
        : "Veo's safety filters blocked this video.";
    case 'cancelled':
      return 'You cancelled it before it was sent to Veo: nothing was billed, and it does not count against your daily limit.';
    case 'operation_gone':
      return 'Google no longer has this video job (it expired there).';
    case 'deadline':
      // Worded by the bot itself ("Veo did not finish within 10 minute(s).").
      return displayText(row.errorMessage ?? 'Veo did not finish in time.', 200);
    case 'no_operation':
      return "The bot lost track of this request's Veo job.";
    case 'no_video':
      return 'Veo finished without a video.';
    case 'processing_errors':
      return 'The bot kept hitting an error on its side.';
    case 'expired':
      return displayText(row.errorMessage ?? 'The request waited too long and expired.', 200);
    case 'admin':
      return 'A server admin stopped this request.';
    case 'image_refused':
      // Worded by the bot itself from what Discord and the file say ("The image (cat.gif) is not a PNG, …").
      return displayText(row.errorMessage ?? 'The image is not a PNG, JPEG or WebP image of at most 20 MB.', 300);
    case 'image_gone':
      return displayText(row.errorMessage ?? 'The image could no longer be fetched from Discord.', 300);
    default:
      // Rows finished before the reason was recorded: worded by their kind alone.
      if (row.failureKind === 'filtered') return "Veo's safety filters blocked this video.";
      if (row.failureKind === 'invalid') return 'Veo could not use this prompt or these settings.';
      if (row.failureKind === 'google') return "Google's video service had a problem.";
      if (row.failureKind === 'admin') return 'A server admin stopped this request.';
      if (row.failureKind === 'expired') return 'The request waited too long and expired.';
      if (row.status === 'timeout') return 'It took too long.';
      return 'The bot hit a problem on its side.';
  }
}

function retryHint(row: VideoRequestRow): string {
  if (audioWasFiltered(row)) return 'The filter stopped the sound: **Retry** makes it again without audio.';
  if (row.failureKind === 'filtered')
    return 'Rephrase the prompt (avoid real people, violence or brands) with **Edit prompt**, or run `/video` again.';
  if (row.failureKind === 'invalid')
    return 'Change the prompt with **Edit prompt**, or change the options and run `/video` again.';
  if (row.failureKind === 'input')
    return row.failureReason === 'image_gone'
      ? 'Nothing was billed and it does not count against your daily limit. Run `/video` again with the image attached again.'
      : 'Nothing was billed and it does not count against your daily limit. Run `/video` again with a PNG, JPEG or WebP image of up to 20 MB.';
  return 'This was not your fault and does not count against your daily limit. Press **Retry** in a few minutes, or run `/video` again.';
}

/** Replaces a resumed request's stale progress embed: the result itself was posted as a new message. */
export function pointerEmbed(row: VideoRequestRow, messageLink: string): APIEmbed {
  // Deliberately not a result title: the result is the new message, this only points to it.
  return fitEmbed({
    title: '↪️ Finished after a bot restart',
    color: row.status === 'completed' ? COLORS.success : row.status === 'timeout' ? COLORS.warning : COLORS.failure,
    description: `> ${displayText(row.prompt)}\n\nThe bot restarted while working on this, so the result was posted as a new message: ${messageLink}`,
    footer: { text: requestMarker(row.id) },
  });
}

/** The title of the embed that tells how a request ended (one per final status; a cancel has its own). */
export function resultTitle(row: Pick<VideoRequestRow, 'status' | 'failureKind'>): string {
  if (row.status === 'completed') return '✅ Your video is ready';
  if (row.status === 'timeout') return '⌛ Your video request timed out';
  if (isCancelled(row)) return '🚫 Cancelled';
  return '❌ Your video could not be made';
}

/**
 * Whether an embed is the result of this request in its current state: not its progress card or a pointer, and not
 * an earlier result (a timed-out request may later be delivered late).
 */
export function isResultEmbed(
  embed: { title?: string | null; footer?: { text?: string | null } | null },
  row: Pick<VideoRequestRow, 'id' | 'status' | 'failureKind'>,
): boolean {
  return embed.title === resultTitle(row) && (embed.footer?.text ?? '').includes(requestMarker(row.id));
}
