// What Discord refuses in a message body, on every route that carries one: channel messages (create, edit),
// interaction callbacks (CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_*, UPDATE_MESSAGE: under `data`), follow-ups and
// webhook / `@original` edits. Creates are checked whole; edits (PATCH, UPDATE_MESSAGE) only in the fields they send,
// and then the message as it would be after the edit must not be empty. Sources next to each rule.
import { MessageFlags } from 'discord-api-types/v10';
import { E, fail } from '../errors';
import type { Upload } from '../types';
import { checkComponents } from './components';
import { checkEmbeds } from './embeds';
import { FormErrors, maxLength } from './formErrors';

export interface MessageCheck {
  body: any;
  files: Upload[];
  /** The message being edited (its API object); absent for a create. */
  existing?: any;
  /** Where the message sits in the request body: `['data']` for an interaction callback. */
  prefix?: string[];
  /** A deferred response (callback type 5): its `data` is checked field by field, but it may be empty. */
  deferred?: boolean;
}

/** The `n` of an uploaded `files[n]` part (else its position), which `attachments[].id` refers to. */
export const uploadIndex = (f: Upload, i: number): string => /^files\[(\d+)\]$/.exec(f.field)?.[1] ?? String(i);

function checkAllowedMentions(errors: FormErrors, am: any): void {
  if (!am || typeof am !== 'object') return;
  // message.mdx "Allowed Mentions Object": users / roles "max 100" (spec MessageAllowedMentionsRequest maxItems 100).
  for (const k of ['users', 'roles'] as const)
    if (Array.isArray(am[k]) && am[k].length > 100) errors.add(['allowed_mentions', k], maxLength(100));
  // message.mdx "Allowed Mentions Examples": parse "users" with a users list (same for roles) is a validation error;
  // the body: `{"allowed_mentions": {"_errors": [{"code": "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE", "message":
  // "parse:[\"users\"] and users: [ids...] are mutually exclusive."}]}}` (a 400 body kept in the tests of D++,
  // brainboxdotcc/DPP src/unittest/errors.cpp).
  for (const k of ['users', 'roles'] as const)
    if (Array.isArray(am.parse) && am.parse.includes(k) && Array.isArray(am[k]) && am[k].length)
      errors.add(['allowed_mentions'], {
        code: 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE',
        message: `parse:["${k}"] and ${k}: [ids...] are mutually exclusive.`,
      });
}

/** `attachments[].id` must name an uploaded `files[n]` (message.mdx "Attachment Request Structure": "for new attachments this
 * must match the n in files[n]"), or on an edit an attachment the message has (message.mdx "Edit Message": the list
 * holds retained and new attachments). Else `attachments.N: ATTACHMENT_NOT_FOUND "Attachment data not found"`, as in
 * https://github.com/Cogmasters/concord/issues/78. At most 10 (spec MessageCreateRequest.attachments.maxItems). */
function checkAttachments(errors: FormErrors, attachments: unknown, files: Upload[], existing: any): void {
  if (!Array.isArray(attachments)) return;
  if (attachments.length > 10) {
    errors.add(['attachments'], maxLength(10));
    return;
  }
  const known = new Set([
    ...files.map(uploadIndex),
    ...((existing?.attachments ?? []) as any[]).map((a) => String(a.id)),
  ]);
  attachments.forEach((a: any, i) => {
    if (!known.has(String(a?.id)))
      errors.add(['attachments', i], { code: 'ATTACHMENT_NOT_FOUND', message: 'Attachment data not found' });
  });
}

/** The message after this request (create: the body; edit: the body's fields over the existing message) is empty. */
function emptyAfter({ body, files, existing }: MessageCheck): boolean {
  const pick = (k: string) => (body[k] !== undefined ? body[k] : existing?.[k]);
  const kept =
    body.attachments !== undefined
      ? ((existing?.attachments ?? []) as any[]).filter((a) =>
          ((body.attachments ?? []) as any[]).some((b) => String(b?.id) === String(a.id)),
        )
      : (existing?.attachments ?? []);
  return (
    !pick('content') &&
    !pick('embeds')?.length &&
    !pick('components')?.length &&
    !pick('sticker_ids')?.length &&
    !existing?.sticker_items?.length &&
    !pick('poll') &&
    !files.length &&
    !kept.length
  );
}

/** Throws Discord's 400 for a message body it would refuse (50035 with the field errors, or 50006 when empty). */
export function validateMessage(check: MessageCheck): void {
  const body = check.body ?? {};
  const errors = new FormErrors(check.prefix);
  // message.mdx "Create Message" / "Edit Message": content up to 2000 characters (the spec's 4000 is for users with
  // Nitro). `content: Must be 2000 or fewer in length.` (BASE_TYPE_MAX_LENGTH).
  errors.max(['content'], body.content, 2000);
  // message.mdx "Create Message": nonce "up to 25 characters"; Discord's code for it is NONCE_TYPE_TOO_LONG
  // ("nonce[NONCE_TYPE_TOO_LONG]: Must be 25 or fewer characters long.", as bots logged it).
  if (typeof body.nonce === 'string' && body.nonce.length > 25)
    errors.add(['nonce'], { code: 'NONCE_TYPE_TOO_LONG', message: 'Must be 25 or fewer characters long.' });
  checkEmbeds(errors, body.embeds);
  checkAllowedMentions(errors, body.allowed_mentions);
  const flags = Number(body.flags ?? 0) | Number(check.existing?.flags ?? 0);
  // IS_COMPONENTS_V2 cannot be removed once set (components/using-message-components.mdx).
  checkComponents(errors, body.components, (flags & MessageFlags.IsComponentsV2) !== 0);
  checkAttachments(errors, body.attachments, check.files, check.existing);
  // At most 10 files per message (message.mdx "Create Message"; the emulator's own field name for the count).
  if (check.files.length > 10) errors.add(['files'], maxLength(10));
  errors.throwIfAny();
  // At least one of content, embeds, sticker_ids, components, files[n], poll (message.mdx "Create Message");
  // edits that would leave nothing get the same 50006 (https://github.com/discord/discord-api-docs/pull/2243,
  // review notes on Edit Webhook Message; interactions-py/interactions.py#254 for UPDATE_MESSAGE).
  if (!check.deferred && emptyAfter({ ...check, body }))
    fail(400, E.CannotSendAnEmptyMessage, 'Cannot send an empty message');
}
