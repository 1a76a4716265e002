/**
 * Custom ids of the bot's buttons: what a press means travels in the id itself (at most 100 characters; Discord only
 * delivers ids of buttons that exist on the message), so any instance, or a restarted one, can handle it.
 */
import type { PendingExpiry } from '../domain/admin';

/** The three page buttons of `/resume status` differ in their action, so no two of a message share an id. */
export type StatusAction = 'newer' | 'refresh' | 'older';
const STATUS_ACTION_CODE: Record<StatusAction, string> = { newer: 'n', refresh: 'r', older: 'o' };

export const RESUME_BUTTON = {
  statusPage: (page: number, action: StatusAction = 'refresh') => `resume:status:${STATUS_ACTION_CODE[action]}:${page}`,
  expire: (action: 'confirm' | 'cancel', p: PendingExpiry) =>
    `resume:expire:${action === 'confirm' ? 'c' : 'x'}:${p.adminId}:${p.olderThanHours}:${p.includeGenerating ? 1 : 0}:${p.requestId ?? '-'}:${Math.ceil(p.expiresAt / 1000).toString(36)}`,
};

export type ResumeButton =
  { kind: 'status'; page: number } | { kind: 'expire'; action: 'confirm' | 'cancel'; pending: PendingExpiry };

export function parseResumeButton(customId: string): ResumeButton | null {
  // Without an action: the ids of the version before, still on messages sent by it.
  const status = /^resume:status:(?:[nro]:)?(\d{1,6})$/.exec(customId);
  if (status) return { kind: 'status', page: Number(status[1]) };
  const expire = /^resume:expire:([cx]):(\d{17,20}):(\d{1,6}):([01]):([0-9a-f-]{36}|-):([0-9a-z]{1,10})$/.exec(
    customId,
  );
  if (!expire) return null;
  return {
    kind: 'expire',
    action: expire[1] === 'c' ? 'confirm' : 'cancel',
    pending: {
      adminId: expire[2]!,
      olderThanHours: Number(expire[3]),
      includeGenerating: expire[4] === '1',
      requestId: expire[5] === '-' ? undefined : expire[5],
      expiresAt: parseInt(expire[6]!, 36) * 1000,
    },
  };
}

/**
 * The buttons of results and progress embeds (issue #16). A result button carries the request it is on and which press
 * of it this is (`seq`, base 36): each press makes at most one request, so a double click (two interactions with the
 * same id) records one; after a press the bot raises the button's `seq`, so a later press makes another. At most
 * 3 + 2 + 36 + 1 + 4 + 3 = 49 characters; the five actions differ, so no two buttons of a message share an id.
 */
export type PressKind = 'reroll' | 'extend' | 'edit' | 'retry';
const PRESS_CODE: Record<PressKind, string> = { reroll: 'r', extend: 'x', edit: 'e', retry: 't' };
const PRESS_KIND: Record<string, PressKind> = { r: 'reroll', x: 'extend', e: 'edit', t: 'retry' };

export type IterationButton =
  { kind: PressKind; requestId: string; seq: number; audioOff: boolean } | { kind: 'cancel'; requestId: string };

export const ITERATION_BUTTON = {
  press: (kind: PressKind, requestId: string, seq: number, audioOff = false) =>
    `vb:${PRESS_CODE[kind]}:${requestId}:${seq.toString(36)}${audioOff ? ':a0' : ''}`,
  cancel: (requestId: string) => `vb:c:${requestId}`,
  /** The Edit prompt modal: which request it edits, and which press of the button opened it. */
  editModal: (requestId: string, seq: number) => `vb:m:${requestId}:${seq.toString(36)}`,
};

/** The text inputs of the Edit prompt modal. */
export const EDIT_MODAL_FIELDS = { prompt: 'prompt', negativePrompt: 'negative_prompt' } as const;

const UUID = '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})';
const SEQ = '([0-9a-z]{1,4})';

export function parseIterationButton(customId: string): IterationButton | null {
  const cancel = new RegExp(`^vb:c:${UUID}$`).exec(customId);
  if (cancel) return { kind: 'cancel', requestId: cancel[1]! };
  const press = new RegExp(`^vb:([rxet]):${UUID}:${SEQ}(:a0)?$`).exec(customId);
  if (!press) return null;
  return { kind: PRESS_KIND[press[1]!]!, requestId: press[2]!, seq: parseInt(press[3]!, 36), audioOff: !!press[4] };
}

export function parseEditModal(customId: string): { requestId: string; seq: number } | null {
  const m = new RegExp(`^vb:m:${UUID}:${SEQ}$`).exec(customId);
  return m ? { requestId: m[1]!, seq: parseInt(m[2]!, 36) } : null;
}
