// Discord's JSON error bodies: `{"message","code"}` plus, for 50035, the nested `errors` object.
// Shapes: https://discord.com/developers/docs/topics/opcodes-and-status-codes#json (discord-api-docs
// developers/topics/opcodes-and-status-codes.mdx, "JSON Error Codes" and the "Example JSON Error Response").
import { RESTJSONErrorCodes } from 'discord-api-types/v10';

export { RESTJSONErrorCodes as E };

export class DiscordApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly extra: object = {},
  ) {
    super(message);
  }
}

export const fail = (status: number, code: number, message: string, extra: object = {}): never => {
  throw new DiscordApiError(status, code, message, extra);
};

/** 400 Invalid Form Body with one error on a top-level field. */
export const formError = (field: string, code: string, message: string): never =>
  fail(400, RESTJSONErrorCodes.InvalidFormBodyOrContentType, 'Invalid Form Body', {
    errors: { [field]: { _errors: [{ code, message }] } },
  });
