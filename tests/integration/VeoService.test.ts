import { createServer, type AddressInfo } from 'node:net';
import { GoogleGenAI } from '@google/genai';
import type { Logger } from 'pino';
import type { Config } from '../../src/lib/config';
import { StorageService } from '../../src/services/StorageService';
import { VeoError, VeoService, type VideoGenerationParams } from '../../src/services/VeoService';
import type { GoogleEmulator } from '../emulators/google';
import { startGoogle } from '../emulators/google/testKit';

/** VeoService through the real @google/genai client against the emulator (JWT auth from the throwaway key file). */
describe('VeoService against the Google emulator', () => {
  let kit: Awaited<ReturnType<typeof startGoogle>>;
  let emu: GoogleEmulator;
  let config: Config;
  let logger: Logger;

  beforeAll(async () => {
    kit = await startGoogle();
    ({ emu, config, logger } = kit);
  });
  afterAll(async () => kit.stop());
  beforeEach(() => {
    emu.clearFaults();
    emu.setDefaultFate({ kind: 'done' });
  });

  const fast = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };
  const params = (over: Partial<VideoGenerationParams> = {}): VideoGenerationParams => ({
    prompt: 'a lighthouse in a storm',
    model: 'veo-3.1-fast-generate-001',
    durationSeconds: 8,
    aspectRatio: '16:9',
    resolution: '1080p',
    generateAudio: true,
    negativePrompt: null,
    seed: null,
    ...over,
  });
  let folder = 0;
  const out = () => `gs://${emu.bucket}/111111111111111111/222222222222222222/333333333333333333/${++folder}/1/`;

  function client(
    baseUrl = emu.baseUrl,
    extra: Partial<ConstructorParameters<typeof GoogleGenAI>[0]> = {},
  ): GoogleGenAI {
    return new GoogleGenAI({
      vertexai: true,
      project: emu.project,
      location: emu.location,
      apiVersion: 'v1',
      httpOptions: { baseUrl },
      ...extra,
    });
  }
  const service = (opts: Partial<ConstructorParameters<typeof VeoService>[0]> = {}) =>
    new VeoService({ client: client(), logger, retry: fast, ...opts });

  test('create() from operator settings: submit, N running polls, done; output listed, streamed byte-equal, link served', async () => {
    const veo = VeoService.create(config.google, logger);
    const storage = StorageService.create(config.google, config.video, logger);
    emu.scriptNext({ kind: 'done', afterPolls: 3, videoBytes: 50_000 });
    const outputUri = out();
    const name = await veo.startGeneration(params({ negativePrompt: 'rain', seed: 42 }), outputUri);
    expect(name).toMatch(
      /^projects\/veobot-test\/locations\/us-central1\/publishers\/google\/models\/veo-3\.1-fast-generate-001\/operations\//,
    );
    expect(emu.authFailures).toEqual([]);
    expect(emu.submits).toHaveLength(1);
    expect(emu.submits[0]!.parameters).toEqual({
      sampleCount: 1,
      storageUri: outputUri,
      durationSeconds: 8,
      aspectRatio: '16:9',
      resolution: '1080p',
      generateAudio: true,
      personGeneration: 'allow_adult',
      negativePrompt: 'rain',
      seed: 42,
    });
    for (let i = 0; i < 3; i++) expect(await veo.pollOperation(name)).toEqual({ state: 'running' });
    const done = await veo.pollOperation(name);
    expect(done.state).toBe('done');
    const videos = (done as Extract<typeof done, { state: 'done' }>).videos;
    expect(videos).toEqual([{ uri: expect.stringMatching(/\/sample_0\.mp4$/), mimeType: 'video/mp4' }]);
    expect(emu.pollCount(name)).toBe(4);

    const prefix = outputUri.replace(`gs://${emu.bucket}/`, '');
    const listed = await storage.listOutputs(prefix);
    expect(listed).toEqual([
      { gsUri: videos[0]!.uri, name: expect.any(String), size: 50_000, contentType: 'video/mp4' },
    ]);
    expect(await storage.getSize(videos[0]!.uri)).toBe(50_000);
    const chunks: Buffer[] = [];
    for await (const c of storage.createReadStream(videos[0]!.uri)) chunks.push(c as Buffer);
    const original = emu.getObject(listed[0]!.name)!;
    expect(Buffer.concat(chunks).equals(original)).toBe(true);
    const res = await fetch(await storage.getLink(videos[0]!.uri));
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(original)).toBe(true);
    expect(emu.billedSeconds).toBe(8);
  });

  test('failed, filtered and not_found operations', async () => {
    const veo = service();
    emu.scriptNext({ kind: 'failed', code: 3, message: 'The prompt could not be submitted.' });
    emu.scriptNext({ kind: 'filtered', reasons: ['Video was blocked. Support codes: 15236754'] });
    const failed = await veo.startGeneration(params(), out());
    const filtered = await veo.startGeneration(params(), out());
    expect(await veo.pollOperation(failed)).toEqual({
      state: 'failed',
      code: 3,
      message: 'The prompt could not be submitted.',
    });
    expect(await veo.pollOperation(filtered)).toEqual({
      state: 'filtered',
      reasons: ['Video was blocked. Support codes: 15236754'],
    });

    emu.forgetOperation(failed);
    expect(await veo.pollOperation(failed)).toEqual({ state: 'not_found', message: expect.stringContaining('404') });

    const polls = emu.pollCount();
    expect((await veo.pollOperation('operations/not-a-real-name')).state).toBe('not_found');
    expect(emu.pollCount()).toBe(polls); // rejected locally, nothing sent

    emu.injectFault({ route: 'poll', status: 400, message: 'Invalid operation name' });
    expect(await veo.pollOperation(filtered)).toEqual({ state: 'not_found', message: expect.stringContaining('400') });
  });

  test('429 is answered at once as throttled (never retried inside the call), nothing billed', async () => {
    const veo = service();
    emu.injectFault({ route: 'submit', status: 429, times: 2 });
    const calls = emu.submitCalls;
    const billed = emu.submits.length;
    const err = (await veo.startGeneration(params(), out()).catch((e: unknown) => e)) as VeoError;
    expect(err).toBeInstanceOf(VeoError);
    expect(err.kind).toBe('throttled');
    expect(err.status).toBe(429);
    // Google gave no delay in this answer: the submit queue picks its own backoff.
    expect(err.retryAfterMs).toBeUndefined();
    expect(emu.submitCalls - calls).toBe(1);
    expect(emu.submits.length).toBe(billed);
    emu.clearFaults();
  });

  test("429 over the project's quota carries Google's retry delay (RetryInfo, or Retry-After)", async () => {
    const veo = service();
    await new Promise((r) => setTimeout(r, 1_100)); // earlier submits leave the window
    try {
      emu.setSubmitRateLimit({ limit: 1, windowMs: 1_000 });
      await veo.startGeneration(params(), out());
      const err = (await veo.startGeneration(params(), out()).catch((e: unknown) => e)) as VeoError;
      expect(err.kind).toBe('throttled');
      expect(err.retryAfterMs).toBeGreaterThan(0);
      expect(err.retryAfterMs).toBeLessThanOrEqual(1_000);

      await new Promise((r) => setTimeout(r, 1_100));
      emu.setSubmitRateLimit({ limit: 1, windowMs: 1_000, retryInfo: false, retryAfterHeader: true });
      await veo.startGeneration(params(), out());
      const byHeader = (await veo.startGeneration(params(), out()).catch((e: unknown) => e)) as VeoError;
      expect(byHeader.kind).toBe('throttled');
      expect(byHeader.retryAfterMs).toBe(1_000); // Retry-After: 1 (whole seconds)
    } finally {
      emu.setSubmitRateLimit(null);
    }
  });

  test('500 and 503 are retried', async () => {
    const veo = service();
    emu.injectFault({ route: 'submit', status: 500 });
    emu.injectFault({ route: 'submit', status: 503 });
    const billed = emu.submits.length;
    const calls = emu.submitCalls;
    await veo.startGeneration(params(), out());
    expect(emu.submitCalls - calls).toBe(3);
    expect(emu.submits.length - billed).toBe(1);
  });

  test('5xx on every try: transient after the configured attempts, nothing billed', async () => {
    const veo = service();
    emu.injectFault({ route: 'submit', status: 503, times: 10 });
    const calls = emu.submitCalls;
    const billed = emu.submits.length;
    const err = (await veo.startGeneration(params(), out()).catch((e: unknown) => e)) as VeoError;
    expect(err).toBeInstanceOf(VeoError);
    expect(err.kind).toBe('transient');
    expect(err.status).toBe(503);
    expect(emu.submitCalls - calls).toBe(fast.attempts);
    expect(emu.submits.length).toBe(billed);
    emu.clearFaults();
  });

  test('400 is final: rejected, exactly one call', async () => {
    const veo = service();
    emu.injectFault({ route: 'submit', status: 400, message: 'Unsupported output video duration' });
    const calls = emu.submitCalls;
    const err = (await veo.startGeneration(params(), out()).catch((e: unknown) => e)) as VeoError;
    expect(err.kind).toBe('rejected');
    expect(err.status).toBe(400);
    expect(err.message).toBe('Veo rejected the request: Unsupported output video duration');
    expect(emu.submitCalls - calls).toBe(1);
  });

  test('accept-then-drop: ambiguous, exactly one billed submit, no retry', async () => {
    const veo = service();
    emu.injectFault({ route: 'submit', kind: 'accept-then-drop' });
    const calls = emu.submitCalls;
    const billed = emu.submits.length;
    const seconds = emu.billedSeconds;
    const outputUri = out();
    const err = (await veo
      .startGeneration(params({ durationSeconds: 6 }), outputUri)
      .catch((e: unknown) => e)) as VeoError;
    expect(err).toBeInstanceOf(VeoError);
    expect(err.kind).toBe('ambiguous');
    expect(emu.submitCalls - calls).toBe(1);
    expect(emu.submits.length - billed).toBe(1);
    expect(emu.billedSeconds - seconds).toBe(6);
    // The paid operation still writes its output: the caller can reconcile through the folder.
    const storage = StorageService.create(config.google, config.video, logger);
    const prefix = outputUri.replace(`gs://${emu.bucket}/`, '');
    let found: Awaited<ReturnType<StorageService['listOutputs']>> = [];
    for (let i = 0; i < 100 && found.length === 0; i++) {
      found = await storage.listOutputs(prefix);
      if (found.length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    expect(found).toHaveLength(1);
  });

  test('a submit that times out is ambiguous and not retried', async () => {
    const veo = service({ requestTimeoutMs: 150 });
    emu.injectFault({ route: 'submit', kind: 'hang' });
    const calls = emu.submitCalls;
    const err = (await veo.startGeneration(params(), out()).catch((e: unknown) => e)) as VeoError;
    expect(err.kind).toBe('ambiguous');
    expect(emu.submitCalls - calls).toBe(1);
  });

  test('retired model: rejected with a plain message, one call, nothing billed', async () => {
    const veo = service();
    const calls = emu.submitCalls;
    const billed = emu.submits.length;
    const err = (await veo
      .startGeneration(params({ model: 'veo-3.0-generate-001' }), out())
      .catch((e: unknown) => e)) as VeoError;
    expect(err.kind).toBe('rejected');
    expect(err.status).toBe(404);
    expect(err.message).toBe('model veo-3.0-generate-001 is not available (retired or unknown)');
    expect(emu.submitCalls - calls).toBe(1);
    expect(emu.submits.length).toBe(billed);
  });

  test('invalid parameters are rejected before any request', async () => {
    const veo = service();
    const calls = emu.submitCalls;
    const bad = [
      params({ prompt: '  ' }),
      params({ durationSeconds: 5 as never }),
      params({ aspectRatio: '1:1' as never }),
      params({ resolution: '4k' as never }),
      params({ seed: -1 }),
      params({ model: '../x' }),
    ];
    for (const p of bad) await expect(veo.startGeneration(p, out())).rejects.toMatchObject({ kind: 'rejected' });
    await expect(veo.startGeneration(params(), 'gs://bucket-without-folder')).rejects.toMatchObject({
      kind: 'rejected',
    });
    expect(emu.submitCalls).toBe(calls);
  });

  test('the SDK never retries behind our back, even when the client was built with retryOptions', async () => {
    const veo = new VeoService({
      client: client(emu.baseUrl, {
        httpOptions: { baseUrl: emu.baseUrl, retryOptions: { attempts: 5, initialDelay: 0.001 } },
      }),
      logger,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    emu.injectFault({ route: 'submit', status: 503 });
    const calls = emu.submitCalls;
    await expect(veo.startGeneration(params(), out())).rejects.toMatchObject({ kind: 'transient', status: 503 });
    expect(emu.submitCalls - calls).toBe(1);
  });

  test('connection refused is retried (nothing was sent) and ends transient, never ambiguous', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const veo = new VeoService({
      client: client(`http://127.0.0.1:${closed}`),
      logger,
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    });
    const err = (await veo.startGeneration(params(), out()).catch((e: unknown) => e)) as VeoError;
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.kind).toBe('transient');
    expect(err.message).toMatch(/after 3 attempts/);
  });

  test('polls retry 429/5xx/timeouts and report transient when exhausted', async () => {
    const veo = service({ requestTimeoutMs: 150 });
    emu.scriptNext({ kind: 'done', afterPolls: 0 });
    const name = await veo.startGeneration(params(), out());
    emu.injectFault({ route: 'poll', status: 503 });
    emu.injectFault({ route: 'poll', status: 429 });
    emu.injectFault({ route: 'poll', kind: 'hang' });
    expect((await veo.pollOperation(name)).state).toBe('done');

    emu.injectFault({ route: 'poll', status: 500, times: fast.attempts });
    await expect(veo.pollOperation(name)).rejects.toMatchObject({ kind: 'transient', status: 500 });
  });

  test('logs carry no credentials', () => {
    const text = kit.logText();
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toMatch(/PRIVATE KEY|Bearer|eyJhbGci|X-Goog-Signature/);
  });
});
