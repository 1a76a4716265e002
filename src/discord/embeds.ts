/** The embeds a requester sees: live progress, the result, and the pointer left on a stale progress reply. */
import type { APIEmbed } from 'discord.js';
import type { Phase } from '../domain/ports';
import type { VideoRequestRow } from '../domain/request';
import { formatDuration } from '../domain/time';
import { COLORS, displayText, requestMarker } from './text';

export function describeSettings(
  row: Pick<VideoRequestRow, 'durationSeconds' | 'aspectRatio' | 'resolution' | 'generateAudio' | 'model'>,
): string {
  const parts = [
    `${row.durationSeconds ?? 8} s`,
    row.aspectRatio,
    row.resolution ?? '720p',
    row.generateAudio === false ? 'no audio' : 'audio',
  ];
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

export function progressEmbed(row: VideoRequestRow, phase: Phase, elapsedMs: number): APIEmbed {
  return {
    title: '🎬 Making your video',
    color: COLORS.progress,
    description: `> ${displayText(row.prompt)}`,
    fields: [
      { name: 'Status', value: PHASE_TEXT[phase], inline: true },
      { name: 'Elapsed', value: formatDuration(elapsedMs), inline: true },
      { name: 'Progress (estimate)', value: `\`${progressBar(elapsedMs, row.durationSeconds)}\`` },
      { name: 'Settings', value: describeSettings(row) },
    ],
    footer: { text: requestMarker(row.id) },
  };
}

export interface ResultOptions {
  resumed: boolean;
  link?: string;
  linkReason?: 'too_large' | 'download_failed';
}

/** The embed that tells the requester how their request ended. */
export function resultEmbed(row: VideoRequestRow, options: ResultOptions): APIEmbed {
  const footer = [options.resumed ? 'Resumed after bot restart' : null, requestMarker(row.id)]
    .filter(Boolean)
    .join(' · ');
  const base = {
    description: `> ${displayText(row.prompt)}`,
    footer: { text: footer },
  };
  const settings = { name: 'Settings', value: describeSettings(row) };
  if (row.status === 'completed') {
    const fields = [settings];
    if (row.durationMs) fields.push({ name: 'Took', value: formatDuration(row.durationMs) });
    if (options.link) {
      fields.push({
        name: 'Video',
        value:
          options.linkReason === 'too_large'
            ? `Too large to attach here, so here is a link: ${options.link}`
            : `Download: ${options.link}`,
      });
    }
    return { ...base, title: resultTitle('completed'), color: COLORS.success, fields };
  }
  if (row.status === 'timeout') {
    return {
      ...base,
      title: resultTitle('timeout'),
      color: COLORS.warning,
      fields: [
        { name: 'Why', value: displayText(row.errorMessage ?? 'It took too long.', 1000) },
        settings,
        {
          name: 'What now',
          value:
            row.failureKind === 'admin' || row.failureKind === 'expired' || !row.operationName
              ? 'Run `/video` again.'
              : 'Run `/video` again. If this video still finishes, it will be posted here.',
        },
      ],
    };
  }
  return {
    ...base,
    title: resultTitle('failed'),
    color: COLORS.failure,
    fields: [
      { name: 'Why', value: displayText(explainFailure(row), 1000) },
      settings,
      { name: 'What now', value: retryHint(row) },
    ],
  };
}

function explainFailure(row: VideoRequestRow): string {
  const message = row.errorMessage ?? 'Unknown error.';
  if (row.failureKind === 'filtered') return `Veo's safety filters blocked this prompt. ${message}`;
  return message;
}

function retryHint(row: VideoRequestRow): string {
  if (row.failureKind === 'filtered')
    return 'Rephrase the prompt (avoid real people, violence or brands) and run `/video` again.';
  if (row.failureKind === 'invalid') return 'Change the prompt or options and run `/video` again.';
  return 'This was not your fault and does not count against your daily limit. Run `/video` again in a few minutes.';
}

/** Replaces a resumed request's stale progress embed: the result itself was posted as a new message. */
export function pointerEmbed(row: VideoRequestRow, messageLink: string): APIEmbed {
  // Deliberately not a result title: the result is the new message, this only points to it.
  return {
    title: '↪️ Finished after a bot restart',
    color: row.status === 'completed' ? COLORS.success : row.status === 'timeout' ? COLORS.warning : COLORS.failure,
    description: `> ${displayText(row.prompt)}\n\nThe bot restarted while working on this, so the result was posted as a new message: ${messageLink}`,
    footer: { text: requestMarker(row.id) },
  };
}

/** The title of the embed that tells how a request ended (one per final status). */
export function resultTitle(status: VideoRequestRow['status']): string {
  if (status === 'completed') return '✅ Your video is ready';
  if (status === 'timeout') return '⌛ Your video request timed out';
  return '❌ Your video could not be made';
}

/**
 * Whether an embed is the result of this request in its current state: not its progress card or a pointer, and not
 * an earlier result (a timed-out request may later be delivered late).
 */
export function isResultEmbed(
  embed: { title?: string | null; footer?: { text?: string | null } | null },
  row: Pick<VideoRequestRow, 'id' | 'status'>,
): boolean {
  return embed.title === resultTitle(row.status) && (embed.footer?.text ?? '').includes(requestMarker(row.id));
}
