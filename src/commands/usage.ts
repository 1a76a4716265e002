import { ApplyOptions } from '@sapphire/decorators';
import { Command, CommandOptionsRunTypeEnum } from '@sapphire/framework';
import { ApplicationIntegrationType, InteractionContextType, MessageFlags } from 'discord.js';
import { usageEmbed } from '../discord/spendViews';

/** `/usage`: a member's own quota and this server's video-seconds for the last 24 hours (issue #13, point 5). */
@ApplyOptions<Command.Options>({
  name: 'usage',
  description: 'How many videos you and this server have left for the last 24 hours',
  runIn: CommandOptionsRunTypeEnum.GuildAny,
})
export class UsageCommand extends Command {
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
    if (!interaction.inGuild()) {
      return interaction.reply({ content: 'Use /usage in a server.', flags: MessageFlags.Ephemeral });
    }
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const view = await this.container.spend.usage(interaction.guildId, interaction.user.id);
    await interaction.editReply({ embeds: [usageEmbed(view)], allowedMentions: { parse: [] } });
  }
}
