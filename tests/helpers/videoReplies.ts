import type { EmulatedMessage, InteractionHandle } from '../emulators/discord';

/** Titles of the embeds that end a request (see src/discord/embeds.ts `resultEmbed`). */
export const RESULT_TITLE = /ready|could not be made|timed out/;

export function isResult(m: EmulatedMessage): boolean {
  return m.embeds.some((e) => RESULT_TITLE.test(String(e?.title ?? '')));
}

/** Waits for the original reply to carry a result embed. */
export function waitForResult(handle: InteractionHandle, timeoutMs = 40_000): Promise<EmulatedMessage> {
  return handle.waitForReply(isResult, timeoutMs);
}

/** Waits for the ephemeral refusal an invalid or refused `/video` gets, and returns its text. */
export async function waitForRefusal(handle: InteractionHandle, timeoutMs = 10_000): Promise<string> {
  const reply = await handle.waitForReply((m) => m.ephemeral && m.content.length > 0, timeoutMs);
  return reply.content;
}

/** The value of an embed field by name. */
export function field(message: EmulatedMessage, name: string): string | undefined {
  for (const embed of message.embeds) {
    const found = (embed?.fields ?? []).find((f: { name: string }) => f.name === name);
    if (found) return String(found.value);
  }
  return undefined;
}

/** The first http(s) URL in a text. */
export function urlIn(text: string | undefined): string | undefined {
  return /https?:\/\/[^\s)>]+/.exec(text ?? '')?.[0];
}
