/**
 * Discord's limits on what a message may carry, and the safety net that keeps every message the bot builds inside
 * them (Discord refuses the whole message otherwise: 400, code 50035).
 * Sources: https://discord.com/developers/docs/resources/message#embed-object-embed-limits,
 * https://discord.com/developers/docs/resources/message#create-message,
 * https://discord.com/developers/docs/components/reference (custom_id 1-100, link button url 512).
 */
import type { APIEmbed } from 'discord.js';

export const LIMITS = {
  content: 2000,
  embeds: 10,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  author: 256,
  /** title, description, field names and values, footer and author of all embeds together */
  embedTotal: 6000,
  customId: 100,
  linkButtonUrl: 512,
  /** autocomplete choice name and value */
  choice: 100,
} as const;

/** `text` cut to at most `max` characters, ending with … when cut, never through a surrogate pair. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const chars = Array.from(text);
  let out = '';
  for (const c of chars) {
    if (out.length + c.length > max - 1) break;
    out += c;
  }
  return `${out}…`;
}

function embedLength(e: APIEmbed): number {
  return (
    (e.title?.length ?? 0) +
    (e.description?.length ?? 0) +
    (e.footer?.text.length ?? 0) +
    (e.author?.name.length ?? 0) +
    (e.fields ?? []).reduce((n, f) => n + f.name.length + f.value.length, 0)
  );
}

/**
 * The embed cut to Discord's limits: every text within its own limit (field names and values never empty), at most 25
 * fields, and all of it within 6,000 characters (the description gives way first, then the longest field values).
 * Builders keep their text short themselves; this is the net under them, so a long prompt or error never costs the
 * whole message.
 */
export function fitEmbed(embed: APIEmbed, budget: number = LIMITS.embedTotal): APIEmbed {
  const fitted: APIEmbed = { ...embed };
  if (fitted.title !== undefined) fitted.title = clip(fitted.title, LIMITS.title);
  if (fitted.description !== undefined) fitted.description = clip(fitted.description, LIMITS.description);
  if (fitted.footer) fitted.footer = { ...fitted.footer, text: clip(fitted.footer.text, LIMITS.footer) };
  if (fitted.author) fitted.author = { ...fitted.author, name: clip(fitted.author.name, LIMITS.author) };
  if (fitted.fields) {
    fitted.fields = fitted.fields.slice(0, LIMITS.fields).map((f) => ({
      ...f,
      name: clip(f.name || '—', LIMITS.fieldName),
      value: clip(f.value || '—', LIMITS.fieldValue),
    }));
  }
  let over = embedLength(fitted) - budget;
  if (over > 0 && fitted.description) {
    fitted.description = clip(fitted.description, Math.max(1, fitted.description.length - over));
    over = embedLength(fitted) - budget;
  }
  while (over > 0 && fitted.fields?.some((f) => f.value.length > 1)) {
    const longest = fitted.fields.reduce((a, b) => (b.value.length > a.value.length ? b : a));
    longest.value = clip(longest.value, Math.max(1, longest.value.length - over));
    over = embedLength(fitted) - budget;
  }
  return fitted;
}

export function fitContent(content: string): string {
  return clip(content, LIMITS.content);
}
