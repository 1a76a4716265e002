import { ApplyOptions } from '@sapphire/decorators';
import { CommandOptionsRunTypeEnum } from '@sapphire/framework';
import { Subcommand } from '@sapphire/plugin-subcommands';
import {
  DiscordAPIError,
  InteractionContextType,
  MessageFlags,
  PermissionFlagsBits,
  type APIEmbed,
  type Message,
} from 'discord.js';
import { displayText } from '../lib/messages';

/** Interaction tokens last 15 minutes; a run that outlives them continues in a channel message. */
const TOKEN_SAFE_MS = 14 * 60_000;
const LIVE_EDIT_INTERVAL_MS = 2_000;
/** Unknown Message, Unknown Webhook, Unknown interaction, Invalid Webhook Token: the reply can no longer be edited. */
const TOKEN_GONE_CODES = new Set([10008, 10015, 10062, 50027]);

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
    const view = await this.container.resumeAdmin.statusView(interaction.guildId!, 0);
    await interaction.editReply({ ...view, allowedMentions: { parse: [] } });
  }

  public async chatInputResumeRun(interaction: Subcommand.ChatInputCommandInteraction) {
    const { resumeAdmin, pino } = this.container;
    const guildId = interaction.guildId!;
    if (interaction.options.getBoolean('dry_run')) {
      await interaction.reply({
        embeds: [await resumeAdmin.dryRun(guildId)],
        flags: MessageFlags.Ephemeral,
        allowedMentions: { parse: [] },
      });
      return;
    }
    await interaction.deferReply();
    const createdAt = interaction.createdTimestamp;
    let channelMessage: Message | undefined;
    let tokenGone = false;
    let waiting: APIEmbed | undefined;
    let lastEdit = -Infinity;
    let timer: NodeJS.Timeout | undefined;
    let sending: Promise<void> | undefined;
    const idleWaiters: (() => void)[] = [];

    const publish = async (embed: APIEmbed) => {
      if (!tokenGone && Date.now() - createdAt < TOKEN_SAFE_MS) {
        try {
          await interaction.editReply({ embeds: [embed], allowedMentions: { parse: [] } });
          return;
        } catch (error) {
          // The token can die before our own estimate says so (clock skew, a slow start): continue in the channel.
          if (!(error instanceof DiscordAPIError && TOKEN_GONE_CODES.has(Number(error.code)))) throw error;
          pino.info(
            { code: error.code },
            'the /resume run interaction token is no longer usable; continuing in a channel message',
          );
        }
      }
      tokenGone = true;
      if (channelMessage) await channelMessage.edit({ embeds: [embed], allowedMentions: { parse: [] } });
      else if (interaction.channel?.isSendable())
        channelMessage = await interaction.channel.send({ embeds: [embed], allowedMentions: { parse: [] } });
    };

    // One edit in flight at a time, at most one every 2 s (the final state too); only the newest state is sent.
    const pump = (): void => {
      if (timer || sending) return;
      if (!waiting) {
        for (const resolve of idleWaiters.splice(0)) resolve();
        return;
      }
      const wait = lastEdit + LIVE_EDIT_INTERVAL_MS - Date.now();
      if (wait > 0) {
        timer = setTimeout(() => ((timer = undefined), pump()), wait);
        return;
      }
      const embed = waiting;
      waiting = undefined;
      lastEdit = Date.now();
      sending = publish(embed)
        .catch((error) => pino.warn({ err: error }, 'could not update the /resume run progress'))
        .finally(() => ((sending = undefined), pump()));
    };

    await resumeAdmin.run(guildId, (embed) => {
      waiting = embed;
      pump();
    });
    await new Promise<void>((resolve) => {
      idleWaiters.push(resolve);
      pump();
    });
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
    const { count, buttons } = await resumeAdmin.prepareExpiry(filter, interaction.user.id);
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
      components: [buttons],
      flags: MessageFlags.Ephemeral,
    });
  }

  public override async autocompleteRun(interaction: Subcommand.AutocompleteInteraction) {
    const guildId = interaction.guildId;
    if (!guildId || !interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild))
      return interaction.respond([]);
    const typed = String(interaction.options.getFocused() ?? '');
    // Only what `/resume expire` can act on: in a busy server, finished requests would crowd out the stuck ones.
    const rows = await this.container.tracking.findForGuild(guildId, typed, 25, { unfinishedOnly: true });
    return interaction.respond(
      rows.map((r) => ({
        name: `${r.id.slice(0, 8)} · ${r.status} · ${r.prompt.replace(/\s+/g, ' ').slice(0, 60)}`.slice(0, 100),
        value: r.id,
      })),
    );
  }
}
