import { EDIT_MODAL_FIELDS, ITERATION_BUTTON, parseEditModal, parseIterationButton } from '../../src/discord/customIds';
import { describeSettings, progressEmbed, resultMessage } from '../../src/discord/embeds';
import {
  afterPress,
  editPromptModal,
  historyView,
  progressComponents,
  resultComponents,
} from '../../src/discord/iterationViews';
import { LIMITS } from '../../src/discord/limits';
import { checkDeclaredImage, checkImageBytes, sniffImageType } from '../../src/domain/images';
import {
  audioWasFiltered,
  canExtend,
  isCancellable,
  outputSeconds,
  resultActions,
  specFromPress,
} from '../../src/domain/iteration';
import { pendingImages, type VideoRequestRow } from '../../src/domain/request';
import { gifBytes, jpegBytes, pngBytes, webpBytes } from '../helpers/images';

const ID = '3d08891d-0030-4095-89c7-fd8f037ee16e';
const row = (over: Partial<VideoRequestRow> = {}): VideoRequestRow =>
  ({
    id: ID,
    userId: '1300000000000000103',
    guildId: '1300000000000001001',
    channelId: '1300000000000001011',
    prompt: 'a red fox in the snow',
    durationSeconds: 8,
    aspectRatio: '16:9',
    resolution: '1080p',
    generateAudio: true,
    status: 'completed',
    model: 'veo-3.1-fast-generate-001',
    videoUrls: ['gs://b/g/c/u/r/1/42/sample_0.mp4'],
    negativePrompt: 'dogs',
    seed: 12,
    errorMessage: null,
    failureKind: null,
    failureReason: null,
    submitAttempts: 1,
    imageUri: 'gs://b/g/c/u/inputs/9/image.png',
    imageMimeType: 'image/png',
    lastFrameUri: null,
    lastFrameMimeType: null,
    sourceVideoUri: null,
    sourceVideoSeconds: null,
    parentRequestId: null,
    origin: null,
    originSeq: null,
    createdAt: new Date('2026-12-01T10:00:00Z'),
    notificationMessageId: '1500000000000000001',
    replyMessageId: null,
    durationMs: 61_000,
    operationName: 'projects/p/locations/l/publishers/google/models/m/operations/o',
    ...over,
  }) as VideoRequestRow;

describe('input images', () => {
  it('are told apart by their bytes, not their names', () => {
    expect(sniffImageType(pngBytes())).toBe('image/png');
    expect(sniffImageType(jpegBytes())).toBe('image/jpeg');
    expect(sniffImageType(webpBytes())).toBe('image/webp');
    expect(sniffImageType(gifBytes())).toBeNull();
    expect(sniffImageType(Buffer.from('RIFF0000WAVE'))).toBeNull();
    expect(checkImageBytes({ option: 'image', filename: 'x.png' }, Buffer.from('hello'))).toEqual({
      ok: false,
      problem: 'The image (x.png) is not a PNG, JPEG or WebP image (checked by its content).',
    });
    expect(checkImageBytes({ option: 'image', filename: 'x' }, webpBytes())).toEqual({
      ok: true,
      mimeType: 'image/webp',
    });
  });

  it('are refused from what Discord declares (type, size up to 20 MB) before any download', () => {
    const declared = (contentType: string | null, size = 1000) =>
      checkDeclaredImage({ option: 'last_frame', filename: 'f', size, contentType });
    expect(declared('image/png')).toEqual([]);
    expect(declared('image/jpeg; charset=binary')).toEqual([]);
    expect(declared(null)).toEqual([]);
    expect(declared('image/gif')).toEqual(['The last_frame (f) is image/gif; Veo takes PNG, JPEG or WebP images.']);
    expect(declared('image/png', 20_000_000)).toEqual([]);
    expect(declared('image/png', 20_000_001)).toEqual([
      'The last_frame (f) is 20.0 MB; Veo takes images up to 20.0 MB.',
    ]);
  });
});

describe('what a result offers', () => {
  it('Extend only on finished Veo 3.1 videos of up to 30 seconds', () => {
    expect(canExtend(row())).toBe(true);
    expect(canExtend(row({ model: 'veo-2.0-generate-001' }))).toBe(false);
    expect(canExtend(row({ status: 'failed' }))).toBe(false);
    expect(canExtend(row({ videoUrls: null }))).toBe(false);
    // An extension's video is the earlier one plus 7 seconds: 29 s can still be extended, 36 s cannot.
    expect(outputSeconds(row({ durationSeconds: 7, sourceVideoSeconds: 22 }))).toBe(29);
    expect(canExtend(row({ durationSeconds: 7, sourceVideoSeconds: 22 }))).toBe(true);
    expect(canExtend(row({ durationSeconds: 7, sourceVideoSeconds: 29 }))).toBe(false);
  });

  it('buttons by outcome; Retry without audio when the filter stopped the sound; none on a cancel', () => {
    const labels = (r: VideoRequestRow) =>
      resultComponents(r).flatMap((c) => c.components.map((b) => ('label' in b ? b.label : '')));
    expect(labels(row())).toEqual(['Reroll', 'Extend', 'Edit prompt']);
    expect(labels(row({ model: 'veo-2.0-generate-001' }))).toEqual(['Reroll', 'Edit prompt']);
    const failed = row({ status: 'failed', failureKind: 'google', failureReason: 'veo_failed' });
    expect(labels(failed)).toEqual(['Retry', 'Edit prompt']);
    expect(labels(row({ status: 'timeout', failureKind: 'google' }))).toEqual(['Retry', 'Edit prompt']);
    const audio = row({
      status: 'failed',
      failureKind: 'filtered',
      errorMessage: 'The audio could not be generated. Support codes: 61478390',
    });
    expect(audioWasFiltered(audio)).toBe(true);
    expect(resultActions(audio).retry).toBe('audio_off');
    expect(parseIterationButton(resultComponents(audio)[0]!.components[0]!.custom_id!)).toMatchObject({
      kind: 'retry',
      audioOff: true,
    });
    expect(resultActions({ ...audio, errorMessage: 'Blocked. Support codes: 1' }).retry).toBe('as_is');
    expect(resultComponents(row({ status: 'failed', failureKind: 'cancelled' }))).toEqual([]);
    // An image that is not one Veo takes, or is gone from Discord, would fail the same way again: no button.
    for (const failureReason of ['image_refused', 'image_gone'] as const) {
      expect(resultComponents(row({ status: 'failed', failureKind: 'input', failureReason, imageUri: null }))).toEqual(
        [],
      );
    }
  });

  it('Cancel only while queued and no submit attempt is recorded', () => {
    const pending = row({ status: 'pending', submitAttempts: 0 });
    expect(isCancellable(pending)).toBe(true);
    expect(progressComponents(pending, 'queued')[0]!.components[0]).toMatchObject({
      label: 'Cancel',
      custom_id: `vb:c:${ID}`,
    });
    expect(progressComponents(pending, 'submitting')).toEqual([]);
    expect(progressComponents(row({ status: 'pending', submitAttempts: 1 }), 'queued')).toEqual([]);
    const embed = progressEmbed(pending, 'generating', 1000);
    expect(embed.fields!.find((f) => f.name === 'Cancel')!.value).toMatch(/No longer possible/);
    expect(progressEmbed(pending, 'queued', 0).fields!.some((f) => f.name === 'Cancel')).toBe(false);
  });
});

describe('the request a press makes', () => {
  it('Reroll: a new seed; Extend: the video, 7 s at 720p, no images; Edit: the prompts; Retry: as it was', () => {
    const parent = row();
    expect(specFromPress(parent, { kind: 'reroll', seed: 99 })).toMatchObject({
      prompt: parent.prompt,
      seed: 99,
      resolution: '1080p',
      image: { uri: parent.imageUri, mimeType: 'image/png' },
      model: parent.model,
    });
    expect(specFromPress(parent, { kind: 'extend' })).toMatchObject({
      durationSeconds: 7,
      resolution: '720p',
      image: null,
      lastFrame: null,
      sourceVideo: { uri: parent.videoUrls![0], seconds: 8 },
      prompt: parent.prompt,
    });
    expect(specFromPress(parent, { kind: 'edit', prompt: 'a blue fox', negativePrompt: null })).toMatchObject({
      prompt: 'a blue fox',
      negativePrompt: null,
      seed: 12,
    });
    expect(specFromPress(parent, { kind: 'retry', audioOff: true })).toMatchObject({ generateAudio: false, seed: 12 });
    // Extending an extension continues the longer video.
    const extended = row({ durationSeconds: 7, sourceVideoSeconds: 8, videoUrls: ['gs://b/x/sample_0.mp4'] });
    expect(specFromPress(extended, { kind: 'extend' }).sourceVideo).toEqual({
      uri: 'gs://b/x/sample_0.mp4',
      seconds: 15,
    });
    expect(describeSettings(extended)).toMatch(/^8 s \+ 7 s = 15 s \(extended\)/);
  });

  it('a request that ended before its images were stored hands on where Discord serves them (Retry, Edit)', () => {
    const source = {
      url: 'https://cdn.discordapp.com/ephemeral-attachments/1/2/a.png?ex=1&is=1&hm=ab&',
      name: 'a.png',
    };
    const expired = row({
      status: 'timeout',
      failureKind: 'admin',
      imageUri: null,
      imageMimeType: null,
      imageSourceUrl: source.url,
      imageSourceName: source.name,
      imageSourceType: 'image/png',
      lastFrameSourceUrl: null,
    });
    expect(describeSettings(expired)).toContain('from an image');
    expect(pendingImages(expired)).toEqual([
      { option: 'image', source: { url: source.url, filename: 'a.png', contentType: 'image/png' } },
    ]);
    for (const spec of [
      specFromPress(expired, { kind: 'retry', audioOff: false }),
      specFromPress(expired, { kind: 'edit', prompt: 'a blue fox', negativePrompt: null }),
    ]) {
      expect(spec).toMatchObject({
        image: null,
        imageSource: { url: source.url, filename: 'a.png', contentType: 'image/png' },
        lastFrameSource: null,
      });
    }
    // Stored images are handed on by their bucket location, with no source.
    expect(specFromPress(row(), { kind: 'reroll', seed: 1 })).toMatchObject({ imageSource: null });
  });
});

describe('custom ids and views', () => {
  it('carry what a press means, stay within 100 characters and differ within a message', () => {
    const audio = row({ status: 'failed', failureKind: 'filtered', errorMessage: 'audio blocked' });
    for (const r of [row(), audio]) {
      const ids = resultComponents(r, { reroll: 1295, edit: 35 }).flatMap((c) => c.components.map((b) => b.custom_id!));
      expect(new Set(ids).size).toBe(ids.length);
      for (const id of ids) expect(id.length).toBeLessThanOrEqual(LIMITS.customId);
    }
    expect(parseIterationButton(ITERATION_BUTTON.press('extend', ID, 1295))).toEqual({
      kind: 'extend',
      requestId: ID,
      seq: 1295,
      audioOff: false,
    });
    expect(parseIterationButton(ITERATION_BUTTON.cancel(ID))).toEqual({ kind: 'cancel', requestId: ID });
    expect(parseEditModal(ITERATION_BUTTON.editModal(ID, 3))).toEqual({ requestId: ID, seq: 3 });
    for (const bad of ['vb:q:' + ID + ':0', `vb:r:${ID}`, `vb:r:not-a-uuid:0`, `vb:r:${ID}:0:a1`, `resume:status:0`])
      expect(parseIterationButton(bad)).toBeNull();
  });

  it('after a press only the pressed button moves on to its next press', () => {
    const components = resultComponents(row());
    const pressed = components[0]!.components[0]!.custom_id!;
    const next = afterPress(components, pressed)!;
    expect(next[0]!.components.map((b) => parseIterationButton(b.custom_id!))).toEqual([
      { kind: 'reroll', requestId: ID, seq: 1, audioOff: false },
      { kind: 'extend', requestId: ID, seq: 0, audioOff: false },
      { kind: 'edit', requestId: ID, seq: 0, audioOff: false },
    ]);
    expect(afterPress(components, 'vb:r:someone-else')).toBeNull();
  });

  it('the Edit prompt modal is prefilled and within Discord’s limits, however long the prompt', () => {
    const long = row({ prompt: 'p'.repeat(2000), negativePrompt: 'n'.repeat(1000) });
    const modal = editPromptModal(long, 7);
    expect(modal.title.length).toBeLessThanOrEqual(45);
    expect(modal.custom_id).toBe(ITERATION_BUTTON.editModal(ID, 7));
    const inputs = modal.components.map((c) => (c as { component: { custom_id: string; value?: string } }).component);
    expect(inputs.map((i) => i.custom_id)).toEqual([EDIT_MODAL_FIELDS.prompt, EDIT_MODAL_FIELDS.negativePrompt]);
    expect(inputs.map((i) => i.value?.length)).toEqual([2000, 1000]);
    expect(editPromptModal(row({ negativePrompt: null }), 0).components[1]).not.toHaveProperty('component.value');
  });

  it('/history and a cancelled result stay within Discord’s limits', () => {
    const rows = Array.from({ length: 10 }, (_, i) =>
      row({ prompt: `${'🎬'.repeat(1000)} ${i}`, origin: 'reroll', sourceVideoSeconds: 22, durationSeconds: 7 }),
    );
    const [embed] = historyView(rows, rows[0]!.guildId).embeds;
    expect(embed!.description!.length).toBeLessThanOrEqual(LIMITS.description);
    expect(embed!.description).toContain(
      `https://discord.com/channels/${rows[0]!.guildId}/${rows[0]!.channelId}/1500000000000000001`,
    );
    const cancelled = resultMessage(row({ status: 'failed', failureKind: 'cancelled', failureReason: 'cancelled' }), {
      resumed: false,
      thumbnail: 'first_frame.png',
    });
    expect(cancelled.embed.title).toBe('🚫 Cancelled');
    expect(cancelled.content).toMatch(/was cancelled/);
    expect(cancelled.embed.thumbnail).toEqual({ url: 'attachment://first_frame.png' });
  });
});
