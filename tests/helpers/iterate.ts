/** Result buttons, presses and the requests they make, as the iteration end-to-end tests read them. */
import type { DiscordEmulator, EmulatedMessage, InteractionHandle } from '../emulators/discord';
import { isResult } from './videoReplies';

/** The labels of a message's buttons, in order. */
export function buttonLabels(message: EmulatedMessage | undefined): string[] {
  return (message?.components ?? []).flatMap((row: any) => (row.components ?? []).map((c: any) => String(c.label)));
}

/** The custom id of the button labelled `label` (fails the test when there is none). */
export function buttonId(message: EmulatedMessage, label: string): string {
  for (const row of message.components ?? [])
    for (const c of (row as any).components ?? []) if (c.label === label) return String(c.custom_id);
  throw new Error(`no "${label}" button on message ${message.id}: ${JSON.stringify(buttonLabels(message))}`);
}

/** Presses the button labelled `label` on `message` (as `userId`). */
export function press(
  discord: DiscordEmulator,
  message: EmulatedMessage,
  label: string,
  userId: string,
): InteractionHandle {
  return discord.pushComponent({ message: message.id, customId: buttonId(message, label), userId });
}

/** The reply a press (or a modal submission) created, once it shows a result: the new request's result. */
export function waitForNewResult(
  discord: DiscordEmulator,
  handle: InteractionHandle,
  timeoutMs = 40_000,
): Promise<EmulatedMessage> {
  return discord.waitFor(
    () => {
      const id = handle.interaction.originalMessageId;
      const m = id ? discord.message(id) : undefined;
      return m && isResult(m) ? m : undefined;
    },
    timeoutMs,
    `the result of the request made by interaction ${handle.id}`,
  );
}

/** The private answer an interaction got (a refusal), as text. */
export function waitForPrivateAnswer(handle: InteractionHandle, timeoutMs = 10_000): Promise<string> {
  return handle
    .waitForReply((m) => m.ephemeral && m.content.length > 0 && m.interactionId === handle.id, timeoutMs)
    .then((m) => m.content);
}
