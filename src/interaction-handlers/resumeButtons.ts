import { ApplyOptions } from '@sapphire/decorators';
import { InteractionHandler, InteractionHandlerTypes } from '@sapphire/framework';
import { MessageFlags, PermissionFlagsBits, type ButtonInteraction } from 'discord.js';
import { statusView } from '../discord/adminViews';
import { parseResumeButton, type ResumeButton } from '../discord/customIds';

/** The buttons of `/resume status` (pages, refresh) and `/resume expire` (confirm, cancel). */
@ApplyOptions<InteractionHandler.Options>({ interactionHandlerType: InteractionHandlerTypes.Button })
export class ResumeButtonsHandler extends InteractionHandler {
  public override parse(interaction: ButtonInteraction) {
    const parsed = parseResumeButton(interaction.customId);
    return parsed ? this.some(parsed) : this.none();
  }

  public override async run(interaction: ButtonInteraction, parsed: ResumeButton) {
    const { resumeAdmin, resume } = this.container;
    // Checked again here: a button press is a new request and must meet the same bar as the command.
    if (!interaction.inGuild() || !interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) {
      return interaction.reply({
        content: 'You need the Manage Server permission for this.',
        flags: MessageFlags.Ephemeral,
      });
    }
    if (parsed.kind === 'status') {
      await interaction.deferUpdate();
      const view = statusView(await resumeAdmin.statusPage(interaction.guildId, parsed.page));
      return interaction.editReply({ ...view, allowedMentions: { parse: [] } });
    }
    const result = await resumeAdmin.confirmExpiry(parsed.pending, parsed.action, {
      userId: interaction.user.id,
      guildId: interaction.guildId,
    });
    if (!result.ok) return interaction.reply({ content: result.message, flags: MessageFlags.Ephemeral });
    await interaction.update({ content: result.message, components: [] });
    if (result.expired.length > 0) await resume.announceRequests(result.expired.map((r) => r.id));
  }
}
