import { ApplyOptions } from '@sapphire/decorators';
import { Command, CommandOptionsRunTypeEnum } from '@sapphire/framework';
import { ApplicationIntegrationType, InteractionContextType, PermissionFlagsBits, type Attachment } from 'discord.js';
import { interactionContext, privately, startLiveRequest } from '../discord/LiveRequest';
import { refusalMessage } from '../discord/spendViews';
import { DuplicateInteractionError } from '../domain/errors';
import type { VideoSpec } from '../domain/iteration';
import type { DeclaredImage } from '../domain/images';
import type { ImageSource } from '../domain/request';
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
      ...(sources.ok ? images.checkDeclared(sources.images.map((i) => i.declared)) : [sources.problem]),
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

    // The row is written before the acknowledgement, images or not: once Discord shows "thinking…", a crash cannot lose
    // the request (a crash before the acknowledgement leaves a recorded request that is resumed and announced in the
    // channel). Images are recorded by where Discord serves them; the worker fetches, checks and stores them before any
    // submit (the copy may outlast Discord's 3 seconds).
    const context = interactionContext(interaction);
    const spec: VideoSpec = {
      ...admission.value,
      imageSource: sources.images.find((i) => i.option === 'image')?.source ?? null,
      lastFrameSource: sources.images.find((i) => i.option === 'last_frame')?.source ?? null,
    };
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
    await startLiveRequest(interaction, recorded, {
      runner: videoRequests,
      progressEditIntervalMs: config.video.progressEditIntervalMs,
      logger: pino,
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

/** An image option as Discord declared it, and where Discord serves it. */
interface AttachedImage {
  option: 'image' | 'last_frame';
  declared: DeclaredImage;
  source: ImageSource;
}

/** The image options as Discord declared them; a last frame needs a first frame (Veo uses it only then). */
function imageSources(
  image: Attachment | null,
  lastFrame: Attachment | null,
): { ok: true; images: AttachedImage[] } | { ok: false; problem: string } {
  if (lastFrame && !image) {
    return {
      ok: false,
      problem: 'A `last_frame` needs an `image` too: Veo uses a last frame only with a first frame.',
    };
  }
  const source = (option: AttachedImage['option'], a: Attachment): AttachedImage => ({
    option,
    declared: { option, filename: a.name, size: a.size, contentType: a.contentType },
    source: { url: a.url, filename: a.name, contentType: a.contentType },
  });
  return {
    ok: true,
    images: [...(image ? [source('image', image)] : []), ...(lastFrame ? [source('last_frame', lastFrame)] : [])],
  };
}
