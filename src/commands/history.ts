import { ApplyOptions } from '@sapphire/decorators';
import { Command, CommandOptionsRunTypeEnum } from '@sapphire/framework';
import { ApplicationIntegrationType, InteractionContextType, MessageFlags } from 'discord.js';
import { historyView } from '../discord/iterationViews';
import { privately } from '../discord/LiveRequest';

/** `/history`: the member's last requests in this server, privately (their own only). */
@ApplyOptions<Command.Options>({
  name: 'history',
  description: 'Your latest video requests in this server, with links to their results',
  runIn: CommandOptionsRunTypeEnum.GuildAny,
})
export class HistoryCommand extends Command {
  public override registerApplicationCommands(registry: Command.Registry) {
    registry.registerChatInputCommand((builder) =>
      builder
        .setName(this.name)
        .setDescription(this.description)
        .setContexts(InteractionContextType.Guild)
        .setIntegrationTypes(ApplicationIntegrationType.GuildInstall),
    );
  }

  public override async chatInputRun(interaction: Command.ChatInputCommandInteraction) {
    if (!interaction.inGuild()) return interaction.reply(privately('Use /history in a server channel.'));
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const rows = await this.container.iterations.history({ guildId: interaction.guildId, userId: interaction.user.id });
    await interaction.editReply({ ...historyView(rows, interaction.guildId), allowedMentions: { parse: [] } });
  }
}
