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
