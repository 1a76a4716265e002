import { ApplyOptions } from '@sapphire/decorators';
import { InteractionHandler, InteractionHandlerTypes } from '@sapphire/framework';
import { Routes, type ModalSubmitInteraction } from 'discord.js';
import { EDIT_MODAL_FIELDS, ITERATION_BUTTON, parseEditModal } from '../discord/customIds';
import { afterPress } from '../discord/iterationViews';
import { answerPrivately, interactionContext, startLiveRequest } from '../discord/LiveRequest';
import { refusalMessage } from '../discord/spendViews';
import { validateVideoInput } from '../domain/videoInput';

/** The Edit prompt modal's submission: a new request with the edited prompt, the other settings kept. */
@ApplyOptions<InteractionHandler.Options>({ interactionHandlerType: InteractionHandlerTypes.ModalSubmit })
export class EditPromptModalHandler extends InteractionHandler {
  public override parse(interaction: ModalSubmitInteraction) {
    const parsed = parseEditModal(interaction.customId);
    return parsed ? this.some(parsed) : this.none();
  }

  public override async run(interaction: ModalSubmitInteraction, modal: { requestId: string; seq: number }) {
    if (!interaction.inGuild()) return answerPrivately(interaction, 'Edit prompt works in a server channel.');
    const { iterations, videoRequests, config, pino } = this.container;
    const text = (id: string) => {
      try {
        return interaction.fields.getTextInputValue(id);
      } catch {
        return null;
      }
    };
    // The same rules as /video's own options (length limits, invisible characters, an empty prompt).
    const checked = validateVideoInput({
      prompt: text(EDIT_MODAL_FIELDS.prompt),
      negativePrompt: text(EDIT_MODAL_FIELDS.negativePrompt),
      length: null,
      ratio: null,
      hd: null,
      audio: null,
      seed: null,
    });
    if (!checked.ok) return answerPrivately(interaction, checked.problems.join('\n'));

    const result = await iterations.press(
      { kind: 'edit', parentId: modal.requestId, seq: modal.seq },
      interactionContext(interaction),
      { prompt: checked.value.prompt, negativePrompt: checked.value.negativePrompt },
    );
    switch (result.kind) {
      case 'refused':
        return answerPrivately(interaction, result.refusal ? refusalMessage(result.refusal) : result.reason);
      case 'duplicate_interaction':
        return;
      case 'already_pressed':
        return answerPrivately(
          interaction,
          'That edit already started a new video: its progress is shown in this channel.',
        );
      case 'recorded': {
        await startLiveRequest(interaction, result.recorded, {
          runner: videoRequests,
          progressEditIntervalMs: config.video.progressEditIntervalMs,
          logger: pino,
          thumbnail: () => iterations.thumbnailFor(result.recorded.row),
        });
        pino.info(
          {
            request_id: result.recorded.row.id,
            parent_request_id: modal.requestId,
            origin: 'edit',
            guild_id: interaction.guildId,
            user_id: interaction.user.id,
          },
          'edited prompt submitted: new request accepted',
        );
        // The Edit prompt button of the result gets the id of its next press.
        const message = interaction.message;
        const components = message
          ? afterPress(
              message.components.map((c) => c.toJSON()),
              ITERATION_BUTTON.press('edit', modal.requestId, modal.seq),
            )
          : null;
        if (message && components) {
          await this.container.client.rest
            .patch(Routes.channelMessage(message.channelId, message.id), { body: { components } })
            .catch((error: unknown) => pino.warn({ err: error }, 'could not renew the Edit prompt button'));
        }
      }
    }
  }
}
