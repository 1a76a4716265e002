import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, GenerateVideosOperation, GoogleGenAI, type GenerateVideosParameters } from '@google/genai';
import { gifBytes, jpegBytes, pngBytes, webpBytes } from '../helpers/images';
import { GoogleEmulator } from './google';

/**
 * Self-tests of Veo's media inputs in the emulator (tests/emulators/google/veoInputs.ts, sources there): the real
 * @google/genai client sends a first frame, a last frame and a video to extend, and the emulator refuses what Vertex
 * AI refuses.
 */
describe('GoogleEmulator: image, lastFrame and video inputs', () => {
  let emu: GoogleEmulator;
  let dir: string;
  const savedEnv = { ...process.env };
  let ai: GoogleGenAI;

  beforeAll(async () => {
    emu = await GoogleEmulator.start();
    dir = mkdtempSync(join(tmpdir(), 'google-emu-inputs-'));
    Object.assign(process.env, emu.env(emu.writeServiceAccountKey(dir)));
    ai = new GoogleGenAI({
      vertexai: true,
      project: emu.project,
      location: emu.location,
      apiVersion: 'v1',
      httpOptions: { baseUrl: emu.baseUrl, fetch: (input, init) => fetch(input, init) },
    });
  });
  afterAll(async () => {
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
    process.env = savedEnv;
  });

  const gs = (name: string) => `gs://${emu.bucket}/${name}`;
  const config = (over: Record<string, unknown> = {}) => ({
    numberOfVideos: 1,
    outputGcsUri: gs(`out/${Math.random().toString(36).slice(2)}/`),
    durationSeconds: 8,
    aspectRatio: '16:9',
    resolution: '720p',
    ...over,
  });
  const submit = (params: Omit<GenerateVideosParameters, 'model'> & { model?: string }) =>
    ai.models.generateVideos({ model: 'veo-3.1-fast-generate-001', ...params });
  const refusal = async (params: Omit<GenerateVideosParameters, 'model'> & { model?: string }) => {
    const before = emu.submits.length;
    const error = await submit(params).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect(emu.submits.length).toBe(before); // refused: nothing billed
    return JSON.parse((error as ApiError).message).error.message as string;
  };
  /** Submits and polls until done; returns the output's gs:// URI. */
  const generate = async (params: Omit<GenerateVideosParameters, 'model'> & { model?: string }) => {
    emu.scriptNext({ kind: 'done', videoBytes: 2048 });
    const op = await submit(params);
    const stored = Object.assign(new GenerateVideosOperation(), { name: op.name });
    const done = await ai.operations.getVideosOperation({ operation: stored });
    expect(done.done).toBe(true);
    return done.response!.generatedVideos![0]!.video!.uri!;
  };

  test('a first frame from the bucket (gcsUri) and a last frame inline (bytesBase64Encoded)', async () => {
    emu.putObject('inputs/first.png', pngBytes(5_000), 'image/png');
    const uri = await generate({
      source: { prompt: 'the cat wakes up', image: { gcsUri: gs('inputs/first.png'), mimeType: 'image/png' } },
      config: config({
        durationSeconds: 6,
        lastFrame: { imageBytes: webpBytes().toString('base64'), mimeType: 'image/webp' },
      }),
    });
    expect(emu.submits.at(-1)!.instance).toEqual({
      prompt: 'the cat wakes up',
      image: { gcsUri: gs('inputs/first.png'), mimeType: 'image/png' },
      lastFrame: { bytesBase64Encoded: webpBytes().toString('base64'), mimeType: 'image/webp' },
    });
    expect(emu.operations.get(emu.submits.at(-1)!.operationName)!.feature).toBe('image_to_video');
    expect(emu.videoSecondsOf(uri)).toBe(6);
  });

  test('each image holds exactly one of bytesBase64Encoded or gcsUri, and a mimeType', async () => {
    emu.putObject('inputs/one.jpg', jpegBytes(), 'image/jpeg');
    expect(
      await refusal({
        source: {
          prompt: 'x',
          image: { gcsUri: gs('inputs/one.jpg'), imageBytes: jpegBytes().toString('base64'), mimeType: 'image/jpeg' },
        },
        config: config(),
      }),
    ).toMatch(/exactly one of bytesBase64Encoded or gcsUri/);
    expect(
      await refusal({ source: { prompt: 'x', image: { gcsUri: gs('inputs/one.jpg') } }, config: config() }),
    ).toMatch(/mimeType is required/);
    expect(await refusal({ source: { prompt: 'x', image: { mimeType: 'image/png' } }, config: config() })).toMatch(
      /exactly one/,
    );
  });

  test('refuses images of another type, larger than 20 MB, not what they claim, or not in the bucket', async () => {
    emu.putObject('inputs/anim.gif', gifBytes(), 'image/gif');
    emu.putObject('inputs/big.png', pngBytes(20_000_001), 'image/png');
    emu.putObject('inputs/fake.png', Buffer.from('this is text, not an image'), 'image/png');
    const image = (name: string, mimeType: string) => ({
      source: { prompt: 'x', image: { gcsUri: gs(name), mimeType } },
      config: config(),
    });
    expect(await refusal(image('inputs/anim.gif', 'image/gif'))).toMatch(/Unsupported mimeType "image\/gif"/);
    expect(await refusal(image('inputs/big.png', 'image/png'))).toMatch(/maximum image size is 20 MB/);
    expect(await refusal(image('inputs/fake.png', 'image/png'))).toMatch(/could not be decoded as image\/png/);
    expect(await refusal(image('inputs/one.jpg', 'image/png'))).toMatch(/\(it is image\/jpeg\)/);
    expect(await refusal(image('inputs/missing.png', 'image/png'))).toMatch(/does not exist/);
    // An image of exactly 20 MB is taken.
    emu.putObject('inputs/limit.png', pngBytes(20_000_000), 'image/png');
    await generate(image('inputs/limit.png', 'image/png'));
  });

  test('a last frame needs a first frame; an image and a video cannot go together', async () => {
    expect(
      await refusal({
        source: { prompt: 'x' },
        config: config({ lastFrame: { imageBytes: pngBytes().toString('base64'), mimeType: 'image/png' } }),
      }),
    ).toMatch(/lastFrame is only supported for image to video/);
    const video = await generate({ source: { prompt: 'a river' }, config: config() });
    expect(
      await refusal({
        source: {
          prompt: 'x',
          image: { gcsUri: gs('inputs/one.jpg'), mimeType: 'image/jpeg' },
          video: { uri: video, mimeType: 'video/mp4' },
        },
        config: config({ durationSeconds: 7 }),
      }),
    ).toMatch(/cannot be used together/);
  });

  test('extends an earlier output by 7 seconds until the input would be longer than 30 seconds', async () => {
    let video = await generate({ source: { prompt: 'a train crossing a bridge' }, config: config() });
    expect(emu.videoSecondsOf(video)).toBe(8);
    const lengths: number[] = [];
    let input = video;
    for (let i = 0; i < 3; i++) {
      input = video;
      video = await generate({
        source: { prompt: 'the train goes on', video: { uri: video, mimeType: 'video/mp4' } },
        config: config({ durationSeconds: 7 }),
      });
      lengths.push(emu.videoSecondsOf(video)!);
    }
    expect(lengths).toEqual([15, 22, 29]);
    const op = emu.operations.get(emu.submits.at(-1)!.operationName)!;
    expect(op).toMatchObject({ feature: 'video_extension', inputSeconds: 22 });
    expect(op.instance.video).toEqual({ gcsUri: input, mimeType: 'video/mp4' });
    // 29 s is still an input; its extension (36 s) is not.
    const longest = await generate({
      source: { prompt: 'and on', video: { uri: video, mimeType: 'video/mp4' } },
      config: config({ durationSeconds: 7 }),
    });
    expect(emu.videoSecondsOf(longest)).toBe(36);
    expect(
      await refusal({
        source: { prompt: 'more', video: { uri: longest, mimeType: 'video/mp4' } },
        config: config({ durationSeconds: 7 }),
      }),
    ).toMatch(/36 seconds long; video extension takes videos of 1 to 30 seconds/);
  });

  test('refuses extensions Veo cannot make', async () => {
    const video = await generate({ source: { prompt: 'a kite' }, config: config() });
    const extend = (over: Record<string, unknown>, model?: string, uri = video) => ({
      ...(model ? { model } : {}),
      source: { prompt: 'x', video: { uri, mimeType: 'video/mp4' } },
      config: config({ durationSeconds: 7, ...over }),
    });
    expect(await refusal(extend({ durationSeconds: 8 }))).toMatch(
      /supported durations are \[7\] for feature video_extension/,
    );
    expect(await refusal(extend({ resolution: '1080p' }))).toMatch(/1080p is not supported for video extension/);
    emu.putObject('uploads/home.mp4', GoogleEmulator.fakeMp4(4096), 'video/mp4');
    expect(await refusal(extend({}, undefined, gs('uploads/home.mp4')))).toMatch(/previously generated by Veo/);
    expect(await refusal(extend({}, undefined, gs('uploads/none.mp4')))).toMatch(/does not exist/);
    // Image-to-video durations stay 4, 6, 8.
    expect(
      await refusal({
        source: { prompt: 'x', image: { gcsUri: gs('inputs/one.jpg'), mimeType: 'image/jpeg' } },
        config: config({ durationSeconds: 7 }),
      }),
    ).toMatch(/supported durations are \[8,6,4\] for feature image_to_video/);
  });
});
