/**
 * Every message the bot can send, built by its own builders from the longest inputs it allows, sent through the real
 * discord.js REST client to the strict Discord emulator (which refuses what Discord refuses: tests/emulators/discord).
 * A template that overflows any Discord limit with some input fails here, not in a user's server.
 */
import { REST } from '@discordjs/rest';
import { Routes, type APIActionRowComponent, type APIButtonComponent, type APIEmbed } from 'discord-api-types/v10';
import type { ActionRowBuilder, ButtonBuilder } from 'discord.js';
import { dryRunEmbed, expiryButtons, runBusyText, runEmbed, statusView, type View } from '../../src/discord/adminViews';
import { pointerEmbed, progressEmbed, resultMessage } from '../../src/discord/embeds';
import { historyView, progressComponents, resultComponents } from '../../src/discord/iterationViews';
import { checkDeclaredImage } from '../../src/domain/images';
import { STATUS_PAGE_SIZE, type InstanceView, type LeaseHolder, type RunProgress } from '../../src/domain/admin';
import type { GenerationOutcome } from '../../src/domain/outcomes';
import type { Phase } from '../../src/domain/ports';
import type { FailureKind, FailureReason, UnfinishedRow, VideoRequestRow } from '../../src/domain/request';
import { NEGATIVE_PROMPT_MAX_LENGTH, PROMPT_MAX_LENGTH, validateVideoInput } from '../../src/domain/videoInput';
import { DiscordEmulator, WORLD } from '../emulators/discord';

const GENERAL = WORLD.guilds.main.channels.general.id;
/** Markdown doubles in length when escaped, and `@`/`<@…>` would ping if not handled: the worst text to show. */
const WORST_PROMPT = '**@everyone <@123456789012345678> _~`|>#'.repeat(100).slice(0, PROMPT_MAX_LENGTH);
const WORST_NEGATIVE = '*_~'.repeat(400).slice(0, NEGATIVE_PROMPT_MAX_LENGTH);
const GOOGLE_ERROR = `projects/p/locations/us-central1: ${'Quota exceeded **for** _metric_ '.repeat(80)}`.slice(
  0,
  2000,
);
const LONG_LINK = `https://storage.googleapis.com/${'b'.repeat(63)}/${'1'.repeat(19)}/x.mp4?X-Goog-Signature=${'f'.repeat(1000)}`;
/** The longest model id VEO_MODEL accepts. */
const LONGEST_MODEL = `veo-${'9'.repeat(124)}`;
const REASONS: (FailureReason | null)[] = [
  'submit_attempts_exhausted',
  'unsupported_ratio',
  'unusable_row',
  'veo_refused',
  'model_unavailable',
  'veo_failed',
  'filtered',
  'operation_gone',
  'deadline',
  'no_operation',
  'no_video',
  'processing_errors',
  'expired',
  'admin',
  'cancelled',
  'image_refused',
  'image_gone',
  null,
];
const KINDS: FailureKind[] = ['filtered', 'google', 'bot', 'expired', 'admin', 'invalid', 'cancelled', 'input'];

function row(overrides: Partial<VideoRequestRow> = {}): VideoRequestRow {
  return {
    id: '3d08891d-0030-4095-89c7-fd8f037ee16e',
    userId: '1300000000000000101',
    guildId: WORLD.guilds.main.id,
    channelId: GENERAL,
    prompt: WORST_PROMPT,
    durationSeconds: 8,
    aspectRatio: '16:9',
    resolution: '1080p',
    generateAudio: true,
    status: 'pending',
    operationName: `projects/${'p'.repeat(30)}/locations/us-central1/publishers/google/models/${LONGEST_MODEL}/operations/${'0'.repeat(36)}`,
    createdAt: new Date(Date.now() - 26 * 3600_000),
    startedAt: null,
    completedAt: new Date(),
    durationMs: 3_599_000,
    gcsPrefix: null,
    videoUrls: null,
    errorMessage: GOOGLE_ERROR,
    requestType: 'veo',
    model: LONGEST_MODEL,
    negativePrompt: WORST_NEGATIVE,
    seed: 4_294_967_295,
    attachmentSizeLimit: null,
    applicationId: null,
    interactionToken: null,
    interactionExpiresAt: null,
    interactionId: null,
    processingErrors: 0,
    leaseOwner: 'x'.repeat(200),
    leaseExpiresAt: null,
    fence: 1,
    announcement: null,
    notifiedAt: null,
    notificationMessageId: null,
    notificationError: null,
    notificationAttempts: 0,
    videoSizeBytes: 2 ** 40,
    deliveredAs: null,
    expiredBy: null,
    failureKind: null,
    failureReason: null,
    submitAttempts: 3,
    ambiguousAttempts: 0,
    updatedAt: null,
    // An extension of a 29-second extension made from an image: every iteration detail the settings can show.
    imageUri: `gs://${'b'.repeat(63)}/${'1'.repeat(19)}/inputs/image.png`,
    imageMimeType: 'image/png',
    lastFrameUri: `gs://${'b'.repeat(63)}/${'1'.repeat(19)}/inputs/last_frame.png`,
    lastFrameMimeType: 'image/png',
    sourceVideoUri: `gs://${'b'.repeat(63)}/${'1'.repeat(19)}/sample_0.mp4`,
    sourceVideoSeconds: 29,
    parentRequestId: '3d08891d-0030-4095-89c7-fd8f037ee16f',
    origin: 'extend',
    originSeq: 1_679_615,
    replyMessageId: '9'.repeat(20),
    imageSourceUrl: null,
    imageSourceName: null,
    imageSourceType: null,
    lastFrameSourceUrl: null,
    lastFrameSourceName: null,
    lastFrameSourceType: null,
    ...overrides,
  };
}

describe('the longest messages the bot can send (strict Discord emulator)', () => {
  let emu: DiscordEmulator;
  let rest: REST;
  let sent = 0;

  beforeAll(async () => {
    emu = await DiscordEmulator.start();
    rest = new REST({ api: emu.apiUrl, retries: 0 }).setToken(emu.token);
  });
  afterAll(async () => emu?.close());

  /** Sends one message as the bot does (no pings from its text); throws with Discord's field path if refused. */
  async function send(message: {
    content?: string;
    embeds?: APIEmbed[];
    components?: (View['components'][number] | APIActionRowComponent<APIButtonComponent>)[];
  }) {
    await rest.post(Routes.channelMessages(GENERAL), {
      body: {
        content: message.content,
        embeds: message.embeds,
        // Builders (admin views) or plain API objects (the iteration views).
        components: message.components?.map((c) =>
          'toJSON' in c ? (c as ActionRowBuilder<ButtonBuilder>).toJSON() : c,
        ),
        allowed_mentions: { parse: [] },
      },
    });
    sent++;
  }

  it('progress embeds, in every phase (with the first frame and, while queued, Cancel)', async () => {
    for (const phase of ['queued', 'submitting', 'generating', 'downloading', 'delivering'] as Phase[]) {
      await send({
        embeds: [progressEmbed(row({ submitAttempts: 0 }), phase, 359_999_000, 'first_frame.webp')],
        components: progressComponents(row({ submitAttempts: 0 }), phase),
      });
    }
  });

  it('/history with ten of the longest requests, and every image refusal at once', async () => {
    const rows = Array.from({ length: 10 }, () => row({ status: 'completed', notificationMessageId: '9'.repeat(20) }));
    await send(historyView(rows, '9'.repeat(20)));
    const problems = ['image', 'last_frame'].flatMap((option) =>
      checkDeclaredImage({ option, filename: 'f'.repeat(1024), size: 2 ** 40, contentType: 'x/'.repeat(200) }),
    );
    await send({ content: problems.join('\n').slice(0, 2000) });
  });

  it('results: completed (attached, linked, resumed), and every failure reason and kind, live and resumed', async () => {
    for (const resumed of [false, true]) {
      await send(resultMessageAsSent(row({ status: 'completed', videoUrls: ['gs://b/x.mp4'] }), resumed));
      for (const reason of ['too_large', 'download_failed'] as const) {
        await send(
          resultMessageAsSent(row({ status: 'completed' }), resumed, { url: LONG_LINK, reason, size: 2 ** 40 }),
        );
      }
      for (const status of ['failed', 'timeout'] as const) {
        for (const failureReason of REASONS) {
          for (const failureKind of KINDS) {
            await send(resultMessageAsSent(row({ status, failureReason, failureKind }), resumed));
          }
        }
      }
    }
    await send({
      embeds: [
        pointerEmbed(
          row({ status: 'completed' }),
          `https://discord.com/channels/${'9'.repeat(20)}/${'9'.repeat(20)}/${'9'.repeat(20)}`,
        ),
      ],
    });
  });

  it('/resume status with full pages, every holder and the latest failures; dry run; live run; expiry; busy run', async () => {
    const fleet: InstanceView[] = Array.from({ length: 200 }, (_, i) => ({
      label: i.toString(16).padStart(6, 'f'),
      thisBot: i === 199,
      shards: Array.from({ length: 40 }, (_, s) => s * 200 + i),
      startedAt: new Date(0),
      lastBeatAt: new Date(0),
      responding: i % 2 === 1,
    }));
    const emptyPage = () => ({
      summary: {
        pending: 0,
        generating: 0,
        awaitingAnnouncement: 0,
        failed24h: 0,
        timeout24h: 0,
        videoSecondsAtRisk: 0,
        oldestUnfinishedAt: null,
      },
      rows: [],
      recentFailures: [],
      page: 0,
      pages: 1,
      total: 0,
      resumeDisabled: false,
      now: Date.now(),
    });
    const holders: LeaseHolder[] = ['free', 'this_bot', 'other_alive', 'other_not_responding'];
    const rows = Array.from({ length: STATUS_PAGE_SIZE }, (_, i) => ({
      ...(row({ status: i % 3 === 0 ? 'completed' : 'generating', announcement: 'due' }) as UnfinishedRow),
      leaseLive: i % 2 === 0,
      attemptCount: 999,
      holder: holders[i % holders.length]!,
    }));
    for (const resumeDisabled of [true, false]) {
      for (const page of [0, 5, 9]) {
        await send(
          statusView({
            summary: {
              pending: 2 ** 31,
              generating: 2 ** 31,
              awaitingAnnouncement: 2 ** 31,
              failed24h: 2 ** 31,
              timeout24h: 2 ** 31,
              videoSecondsAtRisk: 2 ** 31,
              oldestUnfinishedAt: new Date(0),
            },
            rows,
            recentFailures: [row({ status: 'failed' }), row({ status: 'timeout' }), row({ status: 'failed' })],
            page,
            pages: 10,
            total: 2 ** 31,
            resumeDisabled,
            instances: fleet,
            now: Date.now(),
          }),
        );
      }
    }
    // A large fleet: the instance field lists what fits and says how many more there are.
    const fleetField = statusView({ ...emptyPage(), instances: fleet }).embeds[0]!.fields!.find((f) =>
      f.name.startsWith('Bot instances'),
    )!;
    expect(fleetField.name).toBe('Bot instances: 100 live, 100 not responding');
    expect(fleetField.value).toMatch(/^🟢 \*\*this bot\*\* · shards 199, 399, 599/);
    expect(fleetField.value).toMatch(/…and \d+ more$/);
    await send({
      embeds: [
        dryRunEmbed({
          items: Array.from({ length: 50 }, (_, i) => ({
            row: rows[i % rows.length]!,
            action: (['skip_live', 'expire', 'submit', 'poll', 'announce'] as const)[i % 5]!,
            seconds: 8,
          })),
          total: 2 ** 31,
          seconds: 2 ** 31,
          maxAgeHours: 8760,
          now: Date.now(),
        }),
      ],
    });
    const outcomes: GenerationOutcome[] = [
      'completed',
      'failed',
      'timeout',
      'announced',
      'announce_failed',
      'lost_lease',
      'interrupted',
      'deferred',
    ];
    const progress: RunProgress = {
      counts: { found: 2 ** 31, running: 2 ** 31, completed: 2 ** 31, failed: 2 ** 31, timeout: 2 ** 31 },
      requests: new Map(
        Array.from({ length: 500 }, (_, i) => [
          `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`,
          { status: 'generating' as const, outcome: i % 9 === 8 ? undefined : outcomes[i % 8] },
        ]),
      ),
      elapsedMs: 8_640_000_000,
    };
    for (const final of [false, true]) await send({ embeds: [runEmbed(progress, final)] });
    await send({
      content: 'This will mark request `3d08891d-0030-4095-89c7-fd8f037ee16e` as timed out and tell each requester.',
      components: [
        expiryButtons({
          adminId: '1'.repeat(20),
          olderThanHours: 8760,
          includeGenerating: true,
          requestId: '3d08891d-0030-4095-89c7-fd8f037ee16e',
          expiresAt: 8.64e15,
        }),
      ],
    });
    await send({ content: runBusyText('1'.repeat(20), new Date(8.64e15)) });
  });

  it('refusals of /video with every problem at once', async () => {
    const check = validateVideoInput({
      prompt: `${'x'.repeat(6000)}\u0000`,
      length: 7,
      ratio: '1:1',
      hd: true,
      audio: false,
      negativePrompt: `${'y'.repeat(6000)}\u0000`,
      seed: -1,
    });
    expect(check.ok).toBe(false);
    if (!check.ok) await send({ content: check.problems.join('\n') });
    expect(sent).toBeGreaterThanOrEqual(380); // every message above really went through
  });
});

function resultMessageAsSent(
  r: VideoRequestRow,
  resumed: boolean,
  link?: { url: string; reason: 'too_large' | 'download_failed'; size: number },
) {
  const { content, embed } = resultMessage(r, { resumed, link, thumbnail: 'first_frame.png' });
  return { content, embeds: [embed], components: resultComponents(r, { reroll: 1_679_615, retry: 1_679_615 }) };
}
