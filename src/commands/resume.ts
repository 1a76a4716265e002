import { ApplyOptions } from '@sapphire/decorators';
import { CommandOptionsRunTypeEnum } from '@sapphire/framework';
import { Subcommand } from '@sapphire/plugin-subcommands';
import { InteractionContextType, MessageFlags, PermissionFlagsBits, type APIEmbed } from 'discord.js';
import { dryRunEmbed, expiryButtons, runBusyText, runEmbed, statusView } from '../discord/adminViews';
import { LiveReply } from '../discord/LiveReply';
import { displayText } from '../discord/text';
import { ThrottledEditor } from '../discord/ThrottledEditor';

/** `/resume run` shows its progress at most this often (Discord rate-limits edits; nobody reads faster). */
const LIVE_EDIT_INTERVAL_MS = 2_000;

@ApplyOptions<Subcommand.Options>({
  name: 'resume',
  description: 'See and steer unfinished video requests in this server',
  runIn: CommandOptionsRunTypeEnum.GuildAny,
  requiredUserPermissions: [PermissionFlagsBits.ManageGuild],
  subcommands: [
    { name: 'status', chatInputRun: 'chatInputStatus' },
    { name: 'run', chatInputRun: 'chatInputResumeRun' },
    { name: 'expire', chatInputRun: 'chatInputExpire' },
  ],
})
export class ResumeCommand extends Subcommand {
  public override registerApplicationCommands(registry: Subcommand.Registry) {
    registry.registerChatInputCommand((builder) =>
      builder
        .setName(this.name)
        .setDescription(this.description)
        .setContexts(InteractionContextType.Guild)
        .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
        .addSubcommand((s) =>
          s.setName('status').setDescription('Pending, generating and unannounced requests, oldest first'),
        )
        .addSubcommand((s) =>
          s
            .setName('run')
            .setDescription('Resume this server’s unfinished requests now')
            .addBooleanOption((o) =>
              o.setName('dry_run').setDescription('Only show what would happen and what it would cost'),
            ),
        )
        .addSubcommand((s) =>
          s
            .setName('expire')
            .setDescription('Mark unfinished requests as timed out and tell their requesters')
            .addIntegerOption((o) =>
              o
                .setName('older_than_hours')
                .setDescription('Only requests at least this old (default: RESUME_MAX_AGE_HOURS)')
                .setMinValue(0)
                .setMaxValue(24 * 365),
            )
            .addBooleanOption((o) =>
              o
                .setName('include_generating')
                .setDescription('Also expire requests Veo is working on (they may still be billed)'),
            )
            .addStringOption((o) => o.setName('request').setDescription('Only this request').setAutocomplete(true)),
        ),
    );
  }

  public async chatInputStatus(interaction: Subcommand.ChatInputCommandInteraction) {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const page = await this.container.resumeAdmin.statusPage(interaction.guildId!, 0);
    await interaction.editReply({ ...statusView(page), allowedMentions: { parse: [] } });
  }

  public async chatInputResumeRun(interaction: Subcommand.ChatInputCommandInteraction) {
    const { resumeAdmin, pino } = this.container;
    const guildId = interaction.guildId!;
    if (interaction.options.getBoolean('dry_run')) {
      await interaction.reply({
        embeds: [dryRunEmbed(await resumeAdmin.dryRun(guildId))],
        flags: MessageFlags.Ephemeral,
        allowedMentions: { parse: [] },
      });
      return;
    }
    const begun = await resumeAdmin.beginRun(guildId, interaction.user.id);
    if (!begun.ok) {
      await interaction.reply({
        content: runBusyText(begun.startedBy, begun.startedAt),
        flags: MessageFlags.Ephemeral,
        allowedMentions: { parse: [] },
      });
      return;
    }
    await interaction.deferReply();
    const reply = new LiveReply(interaction, pino);
    const editor = new ThrottledEditor<APIEmbed>(
      (embed) => reply.show(embed),
      LIVE_EDIT_INTERVAL_MS,
      (error) => pino.warn({ err: error }, 'could not update the /resume run progress'),
    );
    await begun.run((progress, final) => editor.push(runEmbed(progress, final)));
    await editor.idle();
  }

  public async chatInputExpire(interaction: Subcommand.ChatInputCommandInteraction) {
    const { resumeAdmin, config } = this.container;
    const olderThanHours = interaction.options.getInteger('older_than_hours') ?? config.resume.maxAgeHours;
    const includeGenerating = interaction.options.getBoolean('include_generating') ?? false;
    const requestId = interaction.options.getString('request') ?? undefined;
    if (requestId && !/^[0-9a-f-]{36}$/i.test(requestId)) {
      await interaction.reply({
        content: 'That is not a request id. Pick one from the list as you type.',
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
    const filter = {
      guildId: interaction.guildId!,
      olderThanHours: requestId ? 0 : olderThanHours,
      includeGenerating,
      requestId,
    };
    const { count, pending } = await resumeAdmin.prepareExpiry(filter, interaction.user.id);
    if (count === 0) {
      await interaction.reply({
        content: 'No unfinished request matches, so nothing would change.',
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
    const what = requestId
      ? `request \`${displayText(requestId, 40)}\``
      : `${count} request(s) older than ${olderThanHours} h${includeGenerating ? ', including ones Veo is still working on' : ' (pending only)'}`;
    await interaction.reply({
      content: `This will mark ${what} as timed out and tell each requester. Confirm within a minute.`,
      components: [expiryButtons(pending)],
      flags: MessageFlags.Ephemeral,
    });
  }

  public override async autocompleteRun(interaction: Subcommand.AutocompleteInteraction) {
    const guildId = interaction.guildId;
    if (!guildId || !interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild))
      return interaction.respond([]);
    const typed = String(interaction.options.getFocused() ?? '');
    const rows = await this.container.resumeAdmin.findExpirable(guildId, typed);
    return interaction.respond(
      rows.map((r) => ({
        name: `${r.id.slice(0, 8)} · ${r.status} · ${r.prompt.replace(/\s+/g, ' ').slice(0, 60)}`.slice(0, 100),
        value: r.id,
      })),
    );
  }
}
