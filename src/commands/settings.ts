import { ApplyOptions } from '@sapphire/decorators';
import { CommandOptionsRunTypeEnum } from '@sapphire/framework';
import { Subcommand } from '@sapphire/plugin-subcommands';
import { InteractionContextType, MessageFlags, PermissionFlagsBits } from 'discord.js';
import { settingsChangedText, settingsEmbed } from '../discord/spendViews';

/** `/settings show|set`: this server's video settings, within the operator's caps (issue #13, point 3). */
@ApplyOptions<Subcommand.Options>({
  name: 'settings',
  description: 'See and change how videos may be made in this server',
  runIn: CommandOptionsRunTypeEnum.GuildAny,
  requiredUserPermissions: [PermissionFlagsBits.ManageGuild],
  subcommands: [
    { name: 'show', chatInputRun: 'chatInputShow' },
    { name: 'set', chatInputRun: 'chatInputSet' },
  ],
})
export class SettingsCommand extends Subcommand {
  public override registerApplicationCommands(registry: Subcommand.Registry) {
    registry.registerChatInputCommand((builder) =>
      builder
        .setName(this.name)
        .setDescription(this.description)
        .setContexts(InteractionContextType.Guild)
        .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
        .addSubcommand((s) => s.setName('show').setDescription('The settings in force here and their allowed ranges'))
        .addSubcommand((s) =>
          s
            .setName('set')
            .setDescription('Change one or more settings (each within what the bot’s operator allows)')
            .addStringOption((o) =>
              o
                .setName('channels')
                .setDescription('Channels where /video works: mention them (#a #b), or "all"')
                .setMaxLength(1000),
            )
            .addIntegerOption((o) =>
              o.setName('member_daily_quota').setDescription('Videos per member per 24 hours').setMinValue(0),
            )
            .addIntegerOption((o) =>
              o
                .setName('daily_video_seconds')
                .setDescription('Video-seconds this server may use per 24 hours')
                .setMinValue(0),
            )
            .addBooleanOption((o) => o.setName('hd').setDescription('Members may ask for 1080p'))
            .addBooleanOption((o) => o.setName('audio').setDescription('Members may ask for videos with sound'))
            .addIntegerOption((o) =>
              o
                .setName('longest_length')
                .setDescription('The longest video members may ask for')
                .addChoices(
                  { name: '4 seconds', value: 4 },
                  { name: '6 seconds', value: 6 },
                  { name: '8 seconds', value: 8 },
                ),
            ),
        ),
    );
  }

  public async chatInputShow(interaction: Subcommand.ChatInputCommandInteraction) {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const view = await this.container.guildSettings.show(interaction.guildId!);
    await interaction.editReply({ embeds: [settingsEmbed(view)], allowedMentions: { parse: [] } });
  }

  public async chatInputSet(interaction: Subcommand.ChatInputCommandInteraction) {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const options = interaction.options;
    const result = await this.container.guildSettings.set(
      interaction.guildId!,
      interaction.user.id,
      {
        channels: options.getString('channels'),
        memberDailyQuota: options.getInteger('member_daily_quota'),
        dailyVideoSeconds: options.getInteger('daily_video_seconds'),
        allowHd: options.getBoolean('hd'),
        allowAudio: options.getBoolean('audio'),
        maxLengthSeconds: options.getInteger('longest_length'),
      },
      await this.textChannelIds(interaction),
    );
    if (!result.ok) {
      await interaction.editReply({
        content: `Nothing was changed.\n${result.problems.join('\n')}`.slice(0, 2000),
        allowedMentions: { parse: [] },
      });
      return;
    }
    await interaction.editReply({
      content: settingsChangedText(result.changes),
      embeds: [settingsEmbed(result.view)],
      allowedMentions: { parse: [] },
    });
  }

  /** The server's channels a `/video` can be used in (from the gateway's cache, fetched when it is empty). */
  private async textChannelIds(interaction: Subcommand.ChatInputCommandInteraction): Promise<string[]> {
    const guild = interaction.guild ?? (await interaction.client.guilds.fetch(interaction.guildId!));
    const channels = guild.channels.cache.size > 0 ? guild.channels.cache : await guild.channels.fetch();
    return [...channels.values()].filter((c) => c?.isTextBased()).map((c) => c!.id);
  }
}
