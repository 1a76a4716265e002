/**
 * What users see of iterating (issue #16): the buttons on results (Reroll, Extend, Edit prompt, Retry), the Cancel
 * button of a progress embed, the Edit prompt modal and `/history`. Limits: docs components/reference.mdx (a button
 * label ≤ 80, custom_id ≤ 100 and unique in its message; a modal title ≤ 45, a Label's text ≤ 45, a text input's value
 * ≤ 4,000) and interactions/receiving-and-responding.mdx ("Modal": 1 to 5 components).
 */
import {
  ButtonStyle,
  ComponentType,
  TextInputStyle,
  type APIActionRowComponent,
  type APIButtonComponentWithCustomId,
  type APIEmbed,
  type APIModalInteractionResponseCallbackData,
} from 'discord.js';
import { isCancellable, isCancelled, resultActions } from '../domain/iteration';
import type { Phase } from '../domain/ports';
import type { RequestOrigin, VideoRequestRow } from '../domain/request';
import { NEGATIVE_PROMPT_MAX_LENGTH, PROMPT_MAX_LENGTH } from '../domain/videoInput';
import { EDIT_MODAL_FIELDS, ITERATION_BUTTON, parseIterationButton, type PressKind } from './customIds';
import { describeSettings } from './embeds';
import { clip, fitEmbed } from './limits';
import { COLORS, displayText } from './text';

type ButtonRow = APIActionRowComponent<APIButtonComponentWithCustomId>;

/** Labels as issue #16 names them. */
export const BUTTON_LABELS: Record<PressKind | 'cancel', string> = {
  reroll: 'Reroll',
  extend: 'Extend',
  edit: 'Edit prompt',
  retry: 'Retry',
  cancel: 'Cancel',
};

/**
 * The buttons of a finished request's result: Reroll, Extend (only where Veo can extend this video) and Edit prompt on
 * a video; Retry (without audio when the filter stopped the sound) and Edit prompt on a failure; none on a cancel.
 * `seqs`: which press of each button comes next (0 on a new result).
 */
export function resultComponents(row: VideoRequestRow, seqs: Partial<Record<RequestOrigin, number>> = {}): ButtonRow[] {
  const actions = resultActions(row);
  const button = (
    kind: PressKind,
    style: ButtonStyle.Primary | ButtonStyle.Secondary,
    audioOff = false,
  ): APIButtonComponentWithCustomId => ({
    type: ComponentType.Button,
    style,
    label: BUTTON_LABELS[kind],
    custom_id: ITERATION_BUTTON.press(kind, row.id, seqs[kind] ?? 0, audioOff),
  });
  const buttons: APIButtonComponentWithCustomId[] = [];
  if (actions.retry) buttons.push(button('retry', ButtonStyle.Primary, actions.retry === 'audio_off'));
  if (actions.reroll) buttons.push(button('reroll', ButtonStyle.Primary));
  if (actions.extend) buttons.push(button('extend', ButtonStyle.Secondary));
  if (actions.edit) buttons.push(button('edit', ButtonStyle.Secondary));
  return buttons.length > 0 ? [{ type: ComponentType.ActionRow, components: buttons }] : [];
}

/** Cancel, while the request may still be cancelled (not yet sent to Veo). */
export function progressComponents(row: VideoRequestRow, phase: Phase): ButtonRow[] {
  if (phase !== 'queued' || !isCancellable(row) || isCancelled(row)) return [];
  return [
    {
      type: ComponentType.ActionRow,
      components: [
        {
          type: ComponentType.Button,
          style: ButtonStyle.Danger,
          label: BUTTON_LABELS.cancel,
          custom_id: ITERATION_BUTTON.cancel(row.id),
        },
      ],
    },
  ];
}

/**
 * A message's buttons after a press of `pressed`: that button's next press gets a new custom id, so it makes a new
 * request, while a second delivery of the same press (a double click) still names the old one.
 */
export function afterPress(components: readonly unknown[], pressed: string): ButtonRow[] | null {
  let changed = false;
  const rows = (components as { type: number; components?: { type: number; custom_id?: string }[] }[]).map((row) => ({
    ...row,
    components: (row.components ?? []).map((c) => {
      if (c.custom_id !== pressed) return c;
      const parsed = parseIterationButton(pressed);
      if (!parsed || parsed.kind === 'cancel') return c;
      changed = true;
      return {
        ...c,
        custom_id: ITERATION_BUTTON.press(parsed.kind, parsed.requestId, parsed.seq + 1, parsed.audioOff),
      };
    }),
  }));
  return changed ? (rows as ButtonRow[]) : null;
}

/** The Edit prompt modal, prefilled with the request's prompt and negative prompt. */
export function editPromptModal(
  row: Pick<VideoRequestRow, 'id' | 'prompt' | 'negativePrompt'>,
  seq: number,
): APIModalInteractionResponseCallbackData {
  return {
    custom_id: ITERATION_BUTTON.editModal(row.id, seq),
    title: 'Edit the prompt',
    components: [
      {
        type: ComponentType.Label,
        label: 'Prompt',
        description: 'What the new video shows (the other settings stay)',
        component: {
          type: ComponentType.TextInput,
          custom_id: EDIT_MODAL_FIELDS.prompt,
          style: TextInputStyle.Paragraph,
          required: true,
          min_length: 3,
          max_length: PROMPT_MAX_LENGTH,
          value: clip(row.prompt, PROMPT_MAX_LENGTH),
        },
      },
      {
        type: ComponentType.Label,
        label: 'Negative prompt',
        description: 'What it should not show (leave empty for nothing)',
        component: {
          type: ComponentType.TextInput,
          custom_id: EDIT_MODAL_FIELDS.negativePrompt,
          style: TextInputStyle.Paragraph,
          required: false,
          max_length: NEGATIVE_PROMPT_MAX_LENGTH,
          ...(row.negativePrompt ? { value: clip(row.negativePrompt, NEGATIVE_PROMPT_MAX_LENGTH) } : {}),
        },
      },
    ],
  };
}

const STATUS_TEXT: Record<VideoRequestRow['status'], string> = {
  pending: '⏳ Waiting',
  generating: '🎬 Generating',
  completed: '✅ Ready',
  failed: '❌ Failed',
  timeout: '⌛ Timed out',
};

const ORIGIN_TEXT: Record<RequestOrigin, string> = {
  reroll: 'reroll',
  extend: 'extension',
  edit: 'edited prompt',
  retry: 'retry',
};

/**
 * `/history`: the member's latest requests here, newest first, each with its status, settings, age (a Discord
 * timestamp, shown in the reader's time zone and kept current by the client) and a link to its message.
 */
export function historyView(rows: VideoRequestRow[], guildId: string): { embeds: APIEmbed[] } {
  if (rows.length === 0) {
    return {
      embeds: [
        fitEmbed({
          title: 'Your videos in this server',
          color: COLORS.progress,
          description: 'You have not asked for a video here yet. Run `/video` to make one.',
        }),
      ],
    };
  }
  const entries = rows.map((row, i) => {
    const status = isCancelled(row) ? '🚫 Cancelled' : STATUS_TEXT[row.status];
    const age = `<t:${Math.floor(new Date(row.createdAt).getTime() / 1000)}:R>`;
    const messageId = row.notificationMessageId ?? row.replyMessageId;
    const link = messageId ? ` · [open](https://discord.com/channels/${guildId}/${row.channelId}/${messageId})` : '';
    const from = row.origin ? ` · ${ORIGIN_TEXT[row.origin]}` : '';
    return `**${i + 1}.** ${status} · ${age}${from}${link}\n${describeSettings(row)}\n> ${displayText(row.prompt, 120)}`;
  });
  return {
    embeds: [
      fitEmbed({
        title: 'Your videos in this server',
        color: COLORS.progress,
        description: entries.join('\n\n'),
        footer: {
          text: `Your last ${rows.length} request${rows.length === 1 ? '' : 's'} here; only you can see this.`,
        },
      }),
    ],
  };
}
