import { plainReason, resultMessage } from '../../src/discord/embeds';
import { LIMITS } from '../../src/discord/limits';
import type { VideoRequestRow } from '../../src/domain/request';

const base = {
  id: '3d08891d-0030-4095-89c7-fd8f037ee16e',
  userId: '1300000000000000101',
  prompt: 'a red fox in the snow',
  durationSeconds: 8,
  aspectRatio: '16:9',
  resolution: '720p',
  generateAudio: true,
  model: 'veo-3.1-fast-generate-001',
  operationName: 'projects/p/locations/l/publishers/google/models/m/operations/o',
  durationMs: 61_000,
  errorMessage: null,
  failureKind: null,
  failureReason: null,
} as unknown as VideoRequestRow;

describe('result messages', () => {
  it('put a long signed link into the message content, whole, where an embed field could not hold it', () => {
    const url = `https://storage.googleapis.com/${'b'.repeat(63)}/x.mp4?X-Goog-Signature=${'f'.repeat(1100)}`;
    const message = resultMessage(
      { ...base, status: 'completed' },
      { resumed: false, link: { url, reason: 'too_large', size: 31 * 1024 * 1024 } },
    );
    expect(message.content).toContain(url);
    expect(message.content.length).toBeLessThanOrEqual(LIMITS.content);
    expect(JSON.stringify(message.embed)).not.toContain(url);
  });

  it('fall back to the embed description for a link longer than the content allows, still whole', () => {
    const url = `https://example.com/${'x'.repeat(2500)}`;
    const message = resultMessage(
      { ...base, status: 'completed' },
      { resumed: true, link: { url, reason: 'too_large', size: 1 } },
    );
    expect(message.content).not.toContain(url);
    expect(message.embed.description).toContain(url);
    expect(message.embed.description!.length).toBeLessThanOrEqual(LIMITS.description);
  });

  it('tell failures in plain words chosen by their reason, never with Google’s text', () => {
    const googleText = 'projects/my-project-123/locations/us-central1: Quota exceeded for quota metric';
    const failed = {
      ...base,
      status: 'failed',
      failureKind: 'google',
      failureReason: 'veo_failed',
      errorMessage: `Veo failed: ${googleText}`,
    } as VideoRequestRow;
    const { embed } = resultMessage(failed, { resumed: false });
    const why = embed.fields!.find((f) => f.name === 'Why')!.value;
    expect(why).toBe("Google's video service failed while making the video. (reference `3d08891d`)");
    expect(JSON.stringify(embed)).not.toContain('my-project-123');
    // Rows finished before reasons were recorded are worded by their kind.
    expect(plainReason({ ...failed, failureReason: null, failureKind: 'invalid' })).toMatch(
      /could not use this prompt/,
    );
    expect(plainReason({ ...failed, status: 'timeout', failureReason: null, failureKind: null })).toBe(
      'It took too long.',
    );
  });
});
