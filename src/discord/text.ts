import { escapeMarkdown } from 'discord.js';
import { INVISIBLE } from '../domain/text';

export const COLORS = { progress: 0x5865f2, success: 0x57f287, failure: 0xed4245, warning: 0xfee75c } as const;

/**
 * Makes user text safe to show inside an embed: no markdown tricks, no invisible characters, at most `max` characters
 * once escaped (escaping can double the length, and Discord refuses a field over 1024), never cut through an emoji.
 */
export function displayText(text: string, max = 300): string {
  const chars = Array.from(text.replace(INVISIBLE, '').replace(/\s+/g, ' ').trim());
  let keep = max;
  for (;;) {
    const cut = chars.length > keep ? `${chars.slice(0, Math.max(0, keep - 1)).join('')}…` : chars.join('');
    const escaped = escapeMarkdown(cut);
    if (escaped.length <= max || keep <= 1) return escaped;
    keep -= Math.max(1, Math.ceil((escaped.length - max) / 2));
  }
}

/** The footer text that ties a message to its request (the bot looks for it before posting a result again). */
export function requestMarker(requestId: string): string {
  return `Request ${requestId}`;
}
