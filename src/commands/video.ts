import { ApplyOptions } from '@sapphire/decorators';
import { Command, CommandOptionsRunTypeEnum } from '@sapphire/framework';
import { ApplicationIntegrationType, InteractionContextType, MessageFlags, PermissionFlagsBits } from 'discord.js';
import { interactionExpiresAt } from '../discord/interactionToken';
import { LiveProgress } from '../discord/LiveProgress';
import { refusalMessage } from '../discord/spendViews';
import { DuplicateInteractionError } from '../domain/errors';
import { NEGATIVE_PROMPT_MAX_LENGTH, PROMPT_MAX_LENGTH, SEED_MAX, validateVideoInput } from '../domain/videoInput';

/** The checks before the acknowledgement must leave time to acknowledge within Discord's 3 seconds. */
const ADMISSION_CHECK_TIMEOUT_MS = 2_000;

@ApplyOptions<Command.Options>({
  name: 'video',
  description: 'Make a short video from a text prompt with Google Veo',
  runIn: CommandOptionsRunTypeEnum.GuildAny,
  requiredClientPermissions: [
    PermissionFlagsBits.ViewChannel,
    PermissionFlagsBits.SendMessages,
    PermissionFlagsBits.EmbedLinks,
  ],
})
export class VideoCommand extends Command {
  public override registerApplicationCommands(registry: Command.Registry) {
    registry.registerChatInputCommand((builder) =>
      builder
        .setName(this.name)
        .setDescription(this.description)
        .setContexts(InteractionContextType.Guild)
        .setIntegrationTypes(ApplicationIntegrationType.GuildInstall)
        .addStringOption((o) =>
          o.setName('prompt').setDescription('What the video shows').setRequired(true).setMaxLength(PROMPT_MAX_LENGTH),
        )
        .addIntegerOption((o) =>
          o
            .setName('length')
            .setDescription('Length in seconds (default 8)')
            .addChoices(
              { name: '4 seconds', value: 4 },
              { name: '6 seconds', value: 6 },
              { name: '8 seconds', value: 8 },
            ),
        )
        .addStringOption((o) =>
          o
            .setName('ratio')
            .setDescription('Aspect ratio (default 16:9)')
            .addChoices({ name: '16:9 landscape', value: '16:9' }, { name: '9:16 portrait', value: '9:16' }),
        )
        .addBooleanOption((o) => o.setName('hd').setDescription('1080p instead of 720p'))
        .addBooleanOption((o) => o.setName('audio').setDescription('Generate sound (default on)'))
        .addStringOption((o) =>
          o
            .setName('negative_prompt')
            .setDescription('What the video should not show')
            .setMaxLength(NEGATIVE_PROMPT_MAX_LENGTH),
        )
        .addIntegerOption((o) =>
          o.setName('seed').setDescription('Seed for repeatable results').setMinValue(0).setMaxValue(SEED_MAX),
        ),
    );
  }

  public override async chatInputRun(interaction: Command.ChatInputCommandInteraction) {
    const { videoRequests, config, pino } = this.container;
    const ephemeral = (content: string) =>
      interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
    if (!interaction.inGuild() || !interaction.guildId) return ephemeral('Use /video in a server channel.');
    if (!videoRequests.accepting) return ephemeral('The bot is restarting. Try again in a minute.');

    const raw = {
      prompt: interaction.options.getString('prompt'),
      length: interaction.options.getInteger('length'),
      ratio: interaction.options.getString('ratio'),
      hd: interaction.options.getBoolean('hd'),
      audio: interaction.options.getBoolean('audio'),
      negativePrompt: interaction.options.getString('negative_prompt'),
      seed: interaction.options.getInteger('seed'),
    };
    const validation = validateVideoInput(raw);
    if (!validation.ok) return ephemeral(validation.problems.join('\n'));

    const where = { guildId: interaction.guildId, channelId: interaction.channelId, userId: interaction.user.id };
    let admission;
    try {
      admission = await Promise.race([
        videoRequests.admit(where, raw, validation.value),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('admission check timed out')), ADMISSION_CHECK_TIMEOUT_MS).unref(),
        ),
      ]);
    } catch (error) {
      pino.error({ err: error }, 'admission check failed');
      return ephemeral('The bot cannot reach its database right now, so nothing was started. Try again in a minute.');
    }
    if (!admission.ok) return ephemeral(refusalMessage(admission.refusal));

    // The row is written before the acknowledgement: once Discord shows "thinking…", a crash cannot lose the request
    // (a crash before the acknowledgement leaves a recorded request that is resumed and announced in the channel).
    let recorded;
    try {
      recorded = await videoRequests.record(admission.value, {
        guildId: interaction.guildId,
        channelId: interaction.channelId,
        userId: interaction.user.id,
        applicationId: interaction.applicationId,
        interactionToken: interaction.token,
        interactionExpiresAt: interactionExpiresAt(interaction.createdAt),
        interactionId: interaction.id,
        attachmentSizeLimit: interaction.attachmentSizeLimit ?? null,
      });
    } catch (error) {
      const refusal = videoRequests.refusalOf(error);
      if (refusal) return ephemeral(refusalMessage(refusal));
      if (error instanceof DuplicateInteractionError) {
        // Every instance receives the interaction; the one that recorded it first answers and pays for it.
        pino.debug({ interaction_id: interaction.id }, '/video already recorded by another instance');
        return;
      }
      pino.error({ err: error }, 'could not record the /video request');
      return ephemeral(
        'The bot could not save your request, so nothing was started or charged. Try again in a minute.',
      );
    }
    try {
      await interaction.deferReply();
    } catch (error) {
      // Too late for Discord: the request is recorded all the same; its result goes to the channel.
      pino.warn(
        { err: error, request_id: recorded.row.id },
        'could not acknowledge /video; generating anyway, the result will be posted in the channel',
      );
      videoRequests.run(recorded);
      return;
    }
    const progress = new LiveProgress(interaction, Date.now(), config.video.progressEditIntervalMs, pino);
    const { requestId } = videoRequests.run(recorded, progress);
    pino.info(
      { request_id: requestId, guild_id: interaction.guildId, user_id: interaction.user.id },
      '/video request accepted',
    );
  }
}
