/**
 * Discord's interaction-token rules, in one place. A token lets the bot edit its reply and send follow-ups for 15
 * minutes after the interaction was created (https://discord.com/developers/docs/interactions/receiving-and-responding).
 */
import { DiscordAPIError, RESTJSONErrorCodes } from 'discord.js';

export const INTERACTION_TOKEN_LIFETIME_MS = 15 * 60_000;
/** Edit a reply only while at least this much of the token's life is left (clock skew, slow requests). */
export const INTERACTION_EDIT_MARGIN_MS = 60_000;

/** When an interaction created at `createdAt` stops accepting edits. */
export function interactionExpiresAt(createdAt: Date): Date {
  return new Date(createdAt.getTime() + INTERACTION_TOKEN_LIFETIME_MS);
}

/** Whether a token expiring at `expiresAt` may still be used for an edit at `now`. */
export function tokenUsable(expiresAt: Date | number | null | undefined, now: number): boolean {
  if (expiresAt === null || expiresAt === undefined) return false;
  return new Date(expiresAt).getTime() - now > INTERACTION_EDIT_MARGIN_MS;
}

/**
 * Codes after which the interaction token can no longer be used (the channel path still can): Unknown Message,
 * Unknown Webhook, Unknown Interaction, Invalid Webhook Token.
 */
const TOKEN_GONE_CODES = new Set<number>([
  RESTJSONErrorCodes.UnknownMessage,
  RESTJSONErrorCodes.UnknownWebhook,
  RESTJSONErrorCodes.UnknownInteraction,
  RESTJSONErrorCodes.InvalidWebhookToken,
]);

export function isTokenGone(error: unknown): error is DiscordAPIError {
  return error instanceof DiscordAPIError && TOKEN_GONE_CODES.has(Number(error.code));
}
