/**
 * What a requester and the bill actually saw for one request, counted from the emulators (not from the bot's own
 * records): result notifications in Discord, pings, and Veo submits. Shared by the crash-safety tests and
 * `chaos/run.ts`.
 */
import type { DiscordEmulator, EmulatedMessage } from '../emulators/discord';
import { WORLD } from '../emulators/discord';
import type { GoogleEmulator } from '../emulators/google';

/** Titles of the embeds that tell a requester how their request ended (success, failure, timeout). */
export const RESULT_TITLE = /Your video (is ready|could not be made|request timed out)/;

/** The marker every embed about a request carries in its footer (src/discord/text.ts `requestMarker`). */
export const requestMarker = (requestId: string): string => `Request ${requestId}`;

/** A reply edited into a short note that links to the message holding the result (it shows no result itself). */
const POINTS_TO_MESSAGE = /https:\/\/discord\.com\/channels\/\d+\/\d+\/\d+/;

function carriesResult(m: EmulatedMessage, requestId: string): boolean {
  const marker = requestMarker(requestId);
  return m.embeds.some(
    (e) =>
      String(e?.footer?.text ?? '').includes(marker) &&
      RESULT_TITLE.test(String(e?.title ?? '')) &&
      !POINTS_TO_MESSAGE.test(String(e?.description ?? '')),
  );
}

/**
 * Every message of the bot that shows this request's result, in its current (final) state: the original interaction
 * reply once edited into the result, and channel messages or follow-ups carrying the result. A reply that only points
 * to the message holding the result, or still shows progress, does not count. "Told exactly once" means exactly one of these.
 */
export function resultNotifications(discord: DiscordEmulator, requestId: string): EmulatedMessage[] {
  return discord.messages().filter((m) => m.authorId === WORLD.botUserId && carriesResult(m, requestId));
}

/** Messages about this request whose creation notified (pinged) the requester. Edits never ping. */
export function pingsFor(discord: DiscordEmulator, requestId: string, userId: string): EmulatedMessage[] {
  const marker = requestMarker(requestId);
  return discord
    .messages()
    .filter(
      (m) =>
        m.authorId === WORLD.botUserId &&
        m.pinged.users.includes(userId) &&
        m.embeds.some((e) => String(e?.footer?.text ?? '').includes(marker)),
    );
}

/** Veo submits (paid operations) made for this request: its output folder, in `storageUri`, holds its id. */
export function submitsFor(google: GoogleEmulator, requestId: string): number {
  return google.submits.filter((s) => String(s.parameters.storageUri ?? '').includes(requestId)).length;
}
