import { ApplyOptions } from '@sapphire/decorators';
import { InteractionHandler, InteractionHandlerTypes } from '@sapphire/framework';
import { Routes, type ButtonInteraction } from 'discord.js';
import { parseIterationButton, type IterationButton } from '../discord/customIds';
import { resultEmbed } from '../discord/embeds';
import { afterPress, editPromptModal } from '../discord/iterationViews';
import { fitEmbed } from '../discord/limits';
import { answerPrivately, interactionContext, startLiveRequest } from '../discord/LiveRequest';
import { refusalMessage } from '../discord/spendViews';

/**
 * The buttons on results (Reroll, Extend, Edit prompt, Retry) and on progress embeds (Cancel). What a press means is
 * in its custom id, so any instance, or one started after the message was sent, handles it; the services check who
 * may press and make each press one request.
 */
@ApplyOptions<InteractionHandler.Options>({ interactionHandlerType: InteractionHandlerTypes.Button })
export class IterationButtonsHandler extends InteractionHandler {
  public override parse(interaction: ButtonInteraction) {
    const parsed = parseIterationButton(interaction.customId);
    return parsed ? this.some(parsed) : this.none();
  }

  public override async run(interaction: ButtonInteraction, button: IterationButton) {
    if (!interaction.inGuild()) return answerPrivately(interaction, 'These buttons work in a server channel.');
    const who = { userId: interaction.user.id, guildId: interaction.guildId };
    if (button.kind === 'cancel') return this.cancel(interaction, button.requestId, who);
    if (button.kind === 'edit') {
      const defaults = await this.container.iterations.editDefaults(button.requestId, who);
      if (!defaults.ok) return answerPrivately(interaction, defaults.reason);
      return interaction.showModal(editPromptModal({ id: button.requestId, ...defaults }, button.seq));
    }

    const { iterations, videoRequests, config, pino } = this.container;
    const result = await iterations.press(
      { kind: button.kind, parentId: button.requestId, seq: button.seq, audioOff: button.audioOff },
      interactionContext(interaction),
    );
    switch (result.kind) {
      case 'refused':
        return answerPrivately(interaction, result.refusal ? refusalMessage(result.refusal) : result.reason);
      case 'duplicate_interaction':
        // Another instance (or an earlier delivery of this same interaction) recorded it and answers it.
        return;
      case 'already_pressed':
        return answerPrivately(interaction, alreadyStarted(result.existing?.id));
      case 'recorded':
        await startLiveRequest(interaction, result.recorded, {
          runner: videoRequests,
          progressEditIntervalMs: config.video.progressEditIntervalMs,
          logger: pino,
          thumbnail: () => iterations.thumbnailFor(result.recorded.row),
        });
        pino.info(
          {
            request_id: result.recorded.row.id,
            parent_request_id: button.requestId,
            origin: button.kind,
            guild_id: interaction.guildId,
            user_id: interaction.user.id,
          },
          'result button pressed: new request accepted',
        );
        await this.nextPress(interaction);
    }
  }

  /** The pressed button gets the id of its next press (a later press makes another request; a double click does not). */
  private async nextPress(interaction: ButtonInteraction): Promise<void> {
    const components = afterPress(
      interaction.message.components.map((c) => c.toJSON()),
      interaction.customId,
    );
    if (!components) return;
    await this.container.client.rest
      .patch(Routes.channelMessage(interaction.message.channelId, interaction.message.id), { body: { components } })
      .catch((error: unknown) =>
        this.container.pino.warn({ err: error }, 'could not renew the pressed button; its next press is refused'),
      );
  }

  private async cancel(interaction: ButtonInteraction, requestId: string, who: { userId: string; guildId: string }) {
    const { iterations, pino } = this.container;
    const result = await iterations.cancel(requestId, who);
    if (result.kind === 'refused') return answerPrivately(interaction, result.reason);
    const { row, lease } = result.claim;
    // The message keeps its attachments (the first frame) unless an edit lists others.
    const thumbnail = interaction.message.attachments.find((a) => a.name.startsWith('first_frame.'))?.name;
    try {
      await interaction.update({
        content: '',
        embeds: [fitEmbed(resultEmbed(row, { resumed: false, thumbnail }))],
        components: [],
        allowedMentions: { parse: [] },
      });
    } catch (error) {
      // The request stays cancelled; its announcement is due, so a sweep tells the requester instead.
      pino.warn(
        { err: error, request_id: row.id },
        'could not show the cancellation; the sweep will tell the requester',
      );
      await iterations.release(lease);
      return;
    }
    await iterations.cancelShown(lease, interaction.message.id);
  }
}

function alreadyStarted(requestId: string | undefined): string {
  return `That press already started a new video${requestId ? ` (request \`${requestId.slice(0, 8)}\`)` : ''}: its progress is shown in this channel.`;
}
