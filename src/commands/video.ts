import { ApplyOptions } from '@sapphire/decorators';
import { Command, CommandOptionsRunTypeEnum } from '@sapphire/framework';
import { ApplicationIntegrationType, InteractionContextType, PermissionFlagsBits, type Attachment } from 'discord.js';
import { deferPublicReply, interactionContext, privately, startLiveRequest } from '../discord/LiveRequest';
import { refusalMessage } from '../discord/spendViews';
import { DuplicateInteractionError } from '../domain/errors';
import type { VideoSpec } from '../domain/iteration';
import { THUMBNAIL_MAX_BYTES } from '../domain/policy';
import { IMAGE_EXTENSIONS } from '../domain/images';
import { NEGATIVE_PROMPT_MAX_LENGTH, PROMPT_MAX_LENGTH, SEED_MAX, validateVideoInput } from '../domain/videoInput';
import type { ImageSource } from '../services/ImageInputService';

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
        )
        .addAttachmentOption((o) =>
          o.setName('image').setDescription('First frame: animate this image (PNG, JPEG or WebP, up to 20 MB)'),
        )
        .addAttachmentOption((o) =>
          o.setName('last_frame').setDescription('Last frame, with image: the video ends on this picture'),
        ),
    );
  }

  public override async chatInputRun(interaction: Command.ChatInputCommandInteraction) {
    const { videoRequests, images, config, pino } = this.container;
    const ephemeral = (content: string) => interaction.reply(privately(content));
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
    const sources = imageSources(
      interaction.options.getAttachment('image'),
      interaction.options.getAttachment('last_frame'),
    );
    const problems = [
      ...(validation.ok ? [] : validation.problems),
      ...(sources.ok ? images.checkDeclared(sources.images) : [sources.problem]),
    ];
    if (!validation.ok || !sources.ok || problems.length > 0) return ephemeral(problems.join('\n'));

    // The servers and channels allowed, the server's options, the quotas and the budgets as they stand (record checks
    // them again, atomically).
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

    const context = interactionContext(interaction);
    const start = { runner: videoRequests, progressEditIntervalMs: config.video.progressEditIntervalMs, logger: pino };
    const spec: VideoSpec = admission.value;
    if (sources.images.length === 0) {
      // The row is written before the acknowledgement: once Discord shows "thinking…", a crash cannot lose the
      // request (a crash before the acknowledgement leaves a recorded request that is resumed and announced in the
      // channel).
      let recorded;
      try {
        recorded = await videoRequests.record(spec, context);
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
      await startLiveRequest(interaction, recorded, start);
      this.accepted(interaction, recorded.row.id);
      return;
    }

    // With images the copy into the bucket (up to 40 MB) may outlast Discord's 3-second deadline, so the interaction is
    // acknowledged first: only one instance's acknowledgement succeeds (Discord answers the others 40060), and that
    // instance copies the images and records the request. Nothing is written or billed before the images are safe.
    const deferred = await deferPublicReply(interaction).catch((error: unknown) => {
      pino.warn({ err: error, interaction_id: interaction.id }, 'could not acknowledge /video with an image');
      return undefined;
    });
    if (!deferred) return; // another instance took it, or Discord no longer accepts it
    const refuse = async (reason: string) => {
      await interaction.deleteReply().catch(() => undefined);
      await interaction.followUp(privately(reason)).catch((error: unknown) => {
        pino.warn({ err: error }, 'could not tell the requester why /video was refused');
      });
    };
    const at = { ...context };
    const intakes = await Promise.all(sources.images.map((source) => images.fetchAndStore(source, at)));
    const failed = intakes.find((i) => !i.ok);
    if (failed && !failed.ok) return refuse(failed.reason);
    const stored = intakes.flatMap((i) => (i.ok ? [i] : []));
    const first = stored[0]!;
    let recorded;
    try {
      recorded = await videoRequests.record(
        { ...spec, image: first.image, lastFrame: stored[1]?.image ?? null },
        context,
      );
    } catch (error) {
      const refusal = videoRequests.refusalOf(error);
      if (refusal) return refuse(refusalMessage(refusal));
      if (error instanceof DuplicateInteractionError) return; // a replay of an interaction already handled
      pino.error({ err: error }, 'could not record the /video request');
      return refuse('The bot could not save your request, so nothing was started or charged. Try again in a minute.');
    }
    const thumbnail =
      first.bytes.length <= THUMBNAIL_MAX_BYTES
        ? { name: `first_frame.${IMAGE_EXTENSIONS[first.image.mimeType]}`, data: first.bytes }
        : undefined;
    await startLiveRequest(interaction, recorded, {
      ...start,
      repliedWith: deferred.messageId,
      thumbnail: async () => thumbnail,
    });
    this.accepted(interaction, recorded.row.id);
  }

  private accepted(interaction: Command.ChatInputCommandInteraction, requestId: string): void {
    this.container.pino.info(
      { request_id: requestId, guild_id: interaction.guildId, user_id: interaction.user.id },
      '/video request accepted',
    );
  }
}

/** The image options as Discord declared them; a last frame needs a first frame (Veo uses it only then). */
function imageSources(
  image: Attachment | null,
  lastFrame: Attachment | null,
): { ok: true; images: ImageSource[] } | { ok: false; problem: string } {
  if (lastFrame && !image) {
    return {
      ok: false,
      problem: 'A `last_frame` needs an `image` too: Veo uses a last frame only with a first frame.',
    };
  }
  const source = (option: ImageSource['option'], a: Attachment): ImageSource => ({
    option,
    url: a.url,
    filename: a.name,
    size: a.size,
    contentType: a.contentType,
  });
  return {
    ok: true,
    images: [...(image ? [source('image', image)] : []), ...(lastFrame ? [source('last_frame', lastFrame)] : [])],
  };
}
