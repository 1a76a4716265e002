import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { ApiError, GenerateVideosOperation, GoogleGenAI } from '@google/genai';
import { GoogleEmulator } from './google';

/**
 * Self-tests: the real @google/genai and @google-cloud/storage clients against the emulator, authenticated the way
 * the bot is (GOOGLE_APPLICATION_CREDENTIALS pointing at the emulator's throwaway key). Over 400 lines: one emulator's
 * self-test, its Vertex and Cloud Storage halves sharing one emulator, key and environment.
 */
describe('GoogleEmulator', () => {
  let emu: GoogleEmulator;
  let dir: string;
  let keyFile: string;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    emu = await GoogleEmulator.start();
    dir = mkdtempSync(join(tmpdir(), 'google-emu-'));
    keyFile = emu.writeServiceAccountKey(dir);
    Object.assign(process.env, emu.env(keyFile));
    delete process.env.GOOGLE_API_KEY;
    delete process.env.GEMINI_API_KEY;
  });

  afterAll(async () => {
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
    process.env = savedEnv;
  });

  function genai(): GoogleGenAI {
    return new GoogleGenAI({
      vertexai: true,
      project: emu.project,
      location: emu.location,
      apiVersion: 'v1',
      // Jest's sandbox hides Node's undici global dispatcher from the SDK's default transport; a plain fetch works.
      httpOptions: { baseUrl: emu.baseUrl, fetch: (input, init) => fetch(input, init) },
    });
  }

  function storage(): Storage {
    return new Storage({ apiEndpoint: emu.baseUrl, projectId: emu.project, keyFilename: keyFile });
  }

  const videoConfig = (outputGcsUri?: string) => ({
    numberOfVideos: 1,
    ...(outputGcsUri ? { outputGcsUri } : {}),
    durationSeconds: 6,
    aspectRatio: '9:16',
    resolution: '720p',
    generateAudio: false,
    personGeneration: 'allow_adult',
  });

  describe('Vertex (Veo)', () => {
    test('genai submits and polls with a self-signed JWT the emulator verifies', async () => {
      const ai = genai();
      emu.scriptNext({ kind: 'done', afterPolls: 2, videoBytes: 4096 });
      const op = await ai.models.generateVideos({
        model: 'veo-3.1-fast-generate-001',
        source: { prompt: 'a cat surfing' },
        config: videoConfig(`gs://${emu.bucket}/self/1/`),
      });
      expect(op.name).toMatch(
        /^projects\/veobot-test\/locations\/us-central1\/publishers\/google\/models\/veo-3\.1-fast-generate-001\/operations\/[0-9a-f-]{36}$/,
      );
      expect(emu.authFailures).toEqual([]);
      const sub = emu.submits.at(-1)!;
      expect(sub.instance).toEqual({ prompt: 'a cat surfing' });
      expect(sub.parameters).toMatchObject({
        sampleCount: 1,
        storageUri: `gs://${emu.bucket}/self/1/`,
        durationSeconds: 6,
        aspectRatio: '9:16',
      });
      expect(emu.billedSeconds).toBe(6);

      const stored = Object.assign(new GenerateVideosOperation(), { name: op.name });
      const p1 = await ai.operations.getVideosOperation({ operation: stored });
      const p2 = await ai.operations.getVideosOperation({ operation: stored });
      expect(p1.done).toBeFalsy();
      expect(p2.done).toBeFalsy();
      expect(emu.listObjects('self/1/')).toEqual([]);
      const p3 = await ai.operations.getVideosOperation({ operation: stored });
      expect(p3.done).toBe(true);
      const uri = p3.response?.generatedVideos?.[0]?.video?.uri;
      expect(uri).toMatch(/^gs:\/\/veobot-test-videos\/self\/1\/\d+\/sample_0\.mp4$/);
      expect(p3.response?.raiMediaFilteredCount).toBe(0);
      const objectName = uri!.replace(`gs://${emu.bucket}/`, '');
      const bytes = emu.getObject(objectName)!;
      expect(bytes.length).toBe(4096);
      expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
      expect(emu.pollCount(op.name)).toBe(3);
      expect(emu.authFailures).toEqual([]);
    });

    test('requests without a valid bearer JWT get 401 UNAUTHENTICATED', async () => {
      const url = `${emu.baseUrl}/v1/projects/${emu.project}/locations/${emu.location}/publishers/google/models/veo-3.1-generate-001:predictLongRunning`;
      const body = JSON.stringify({
        instances: [{ prompt: 'x' }],
        parameters: { storageUri: `gs://${emu.bucket}/x/` },
      });
      const before = emu.submits.length;
      const none = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      expect(none.status).toBe(401);
      expect(((await none.json()) as { error: { status: string } }).error.status).toBe('UNAUTHENTICATED');
      const forged = emu.accessToken().replace(/\.[^.]+$/, '.AAAA');
      const bad = await fetch(url, { method: 'POST', body, headers: { authorization: `Bearer ${forged}` } });
      expect(bad.status).toBe(401);
      const good = await fetch(url, {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${emu.accessToken()}` },
      });
      expect(good.status).toBe(200);
      expect(emu.submits.length).toBe(before + 1);
    });

    test('the per-project submit quota: 429 RESOURCE_EXHAUSTED with RetryInfo beyond the limit, then room again', async () => {
      const ai = genai();
      const submit = () =>
        ai.models.generateVideos({
          model: 'veo-3.1-fast-generate-001',
          source: { prompt: 'a quota test' },
          config: videoConfig(`gs://${emu.bucket}/quota/`),
        });
      const windowMs = 1_500;
      // Submits of the tests before count as well (as at Google): let them leave the window first.
      await new Promise((r) => setTimeout(r, windowMs));
      try {
        emu.setSubmitRateLimit({ limit: 2, windowMs, retryAfterHeader: true });
        const before = emu.submits.length;
        const accepted = await Promise.all([submit(), submit()]);
        expect(accepted.every((op) => typeof op.name === 'string')).toBe(true);
        const refused = await submit().then(
          () => null,
          (e: unknown) => e,
        );
        expect(refused).toBeInstanceOf(ApiError);
        expect((refused as ApiError).status).toBe(429);
        const body = JSON.parse((refused as ApiError).message) as {
          error: { code: number; status: string; message: string; details: { '@type': string; retryDelay: string }[] };
        };
        expect(body.error).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED' });
        expect(body.error.message).toMatch(
          /^Quota exceeded for aiplatform\.googleapis\.com\/online_prediction_requests_per_base_model/,
        );
        const retry = body.error.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo')!;
        expect(retry.retryDelay).toMatch(/^\d+\.\d{3}s$/);
        const delayMs = Number(retry.retryDelay.slice(0, -1)) * 1000;
        expect(delayMs).toBeGreaterThan(0);
        expect(delayMs).toBeLessThanOrEqual(windowMs);
        const raw = await fetch(
          `${emu.baseUrl}/v1/projects/${emu.project}/locations/${emu.location}/publishers/google/models/veo-3.1-fast-generate-001:predictLongRunning`,
          {
            method: 'POST',
            body: JSON.stringify({ instances: [{ prompt: 'x' }], parameters: { storageUri: `gs://${emu.bucket}/q/` } }),
            headers: { authorization: `Bearer ${emu.accessToken()}`, 'content-type': 'application/json' },
          },
        );
        expect(raw.status).toBe(429);
        expect(Number(raw.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        // Refused submits created nothing and were not billed.
        expect(emu.submits.length).toBe(before + 2);
        expect(emu.rateLimited.length).toBeGreaterThanOrEqual(2);
        // Once the oldest submit left the window, there is room again.
        await new Promise((r) => setTimeout(r, delayMs + 50));
        await expect(submit()).resolves.toHaveProperty('name');
        expect(emu.submits.length).toBe(before + 3);

        // Without RetryInfo: the bare shape some Vertex 429s have.
        emu.setSubmitRateLimit({ limit: 0, windowMs, retryInfo: false });
        const bare = (await submit().catch((e: unknown) => e)) as ApiError;
        expect(bare.status).toBe(429);
        expect(JSON.parse(bare.message).error.details).toBeUndefined();
      } finally {
        emu.setSubmitRateLimit(null);
      }
    });

    test('failed, filtered, never and unknown operations', async () => {
      const ai = genai();
      const submit = async (prompt: string) =>
        (
          await ai.models.generateVideos({
            model: 'veo-3.1-generate-001',
            source: { prompt },
            config: videoConfig(`gs://${emu.bucket}/fates/`),
          })
        ).name!;
      emu.scriptNext({ kind: 'failed', code: 13, message: 'Internal error' });
      emu.scriptNext({ kind: 'filtered', reasons: ['Blocked. Support codes: 15236754'] });
      emu.fateForPrompt('forever', { kind: 'never' });
      const failed = await submit('one');
      const filtered = await submit('two');
      const never = await submit('forever and ever');
      const poll = (name: string) =>
        ai.operations.getVideosOperation({ operation: Object.assign(new GenerateVideosOperation(), { name }) });

      const f = await poll(failed);
      expect(f.done).toBe(true);
      expect(f.error).toEqual({ code: 13, message: 'Internal error' });
      const r = await poll(filtered);
      expect(r.done).toBe(true);
      expect(r.response?.raiMediaFilteredCount).toBe(1);
      expect(r.response?.raiMediaFilteredReasons).toEqual(['Blocked. Support codes: 15236754']);
      expect(r.response?.generatedVideos).toBeUndefined();
      for (let i = 0; i < 3; i++) expect((await poll(never)).done).toBeFalsy();
      expect(emu.maxInFlight).toBeGreaterThanOrEqual(1);
      emu.completeOperation(never);
      expect((await poll(never)).done).toBe(true);

      emu.forgetOperation(never);
      const err = await poll(never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(404);
      expect(JSON.parse((err as ApiError).message)).toMatchObject({ error: { code: 404, status: 'NOT_FOUND' } });
    });

    test('retired model 404, bad parameters 400, missing storageUri fails the operation like Google', async () => {
      const ai = genai();
      const retired = await ai.models
        .generateVideos({
          model: 'veo-3.0-generate-001',
          source: { prompt: 'x' },
          config: videoConfig(`gs://${emu.bucket}/r/`),
        })
        .catch((e: unknown) => e);
      expect((retired as ApiError).status).toBe(404);
      expect((retired as ApiError).message).toContain('NOT_FOUND');

      const badDuration = await ai.models
        .generateVideos({
          model: 'veo-3.1-generate-001',
          source: { prompt: 'x' },
          config: { ...videoConfig(`gs://${emu.bucket}/r/`), durationSeconds: 5 },
        })
        .catch((e: unknown) => e);
      expect((badDuration as ApiError).status).toBe(400);

      const before = emu.billedSeconds;
      const op = await ai.models.generateVideos({
        model: 'veo-3.1-generate-001',
        source: { prompt: 'no bucket' },
        config: videoConfig(),
      });
      expect(emu.billedSeconds).toBe(before + 6);
      const polled = await ai.operations.getVideosOperation({ operation: op });
      expect(polled.error).toEqual({
        code: 3,
        message: 'Generated video is large, an output storage uri is required.',
      });
    });

    test('time-driven operations write their output even when nobody polls', async () => {
      const ai = genai();
      emu.scriptNext({ kind: 'done', afterMs: 30, videoBytes: 1000 });
      await ai.models.generateVideos({
        model: 'veo-3.1-generate-001',
        source: { prompt: 'unpolled' },
        config: videoConfig(`gs://${emu.bucket}/crash/7/`),
      });
      const s = storage();
      for (let i = 0; i < 200 && emu.listObjects('crash/7/').length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      const [files] = await s.bucket(emu.bucket).getFiles({ prefix: 'crash/7/' });
      expect(files.map((f) => f.name)).toEqual([expect.stringMatching(/^crash\/7\/\d+\/sample_0\.mp4$/)]);
      expect(Number(files[0]!.metadata.size)).toBe(1000);
    });

    test('faults: 429 in Google shape, accept-then-drop bills one submit and the client hears nothing', async () => {
      const ai = genai();
      emu.injectFault({ route: 'submit', status: 429 });
      const quota = await ai.models
        .generateVideos({
          model: 'veo-3.1-generate-001',
          source: { prompt: 'q' },
          config: videoConfig(`gs://${emu.bucket}/f/`),
        })
        .catch((e: unknown) => e);
      expect((quota as ApiError).status).toBe(429);
      expect(JSON.parse((quota as ApiError).message)).toMatchObject({
        error: { code: 429, status: 'RESOURCE_EXHAUSTED' },
      });

      const before = emu.submits.length;
      emu.injectFault({ route: 'submit', kind: 'accept-then-drop' });
      const dropped = await ai.models
        .generateVideos({
          model: 'veo-3.1-generate-001',
          source: { prompt: 'dropped' },
          config: videoConfig(`gs://${emu.bucket}/f/`),
        })
        .catch((e: unknown) => e);
      expect(dropped).toBeInstanceOf(Error);
      expect(dropped).not.toBeInstanceOf(ApiError);
      expect(emu.submits.length).toBe(before + 1);
      expect(emu.submits.at(-1)!.instance.prompt).toBe('dropped');

      emu.injectFault({ route: 'poll', status: 503, times: 2 });
      const name = emu.submits.at(-1)!.operationName;
      const op = Object.assign(new GenerateVideosOperation(), { name });
      for (let i = 0; i < 2; i++)
        expect(
          ((await ai.operations.getVideosOperation({ operation: op }).catch((e: unknown) => e)) as ApiError).status,
        ).toBe(503);
      expect((await ai.operations.getVideosOperation({ operation: op })).done).toBe(true);
    });
  });

  describe('Cloud Storage', () => {
    test('multipart and resumable (single-shot and chunked) uploads, validated downloads', async () => {
      const b = storage().bucket(emu.bucket);
      const small = GoogleEmulator.fakeMp4(10_000);
      await b
        .file('up/multipart.mp4')
        .save(small, { resumable: false, contentType: 'video/mp4', validation: 'crc32c' });
      const mid = GoogleEmulator.fakeMp4(300_000);
      await b.file('up/resumable.mp4').save(mid, { resumable: true, contentType: 'video/mp4' });
      const big = GoogleEmulator.fakeMp4(700_000);
      await b.file('up/chunked.mp4').save(big, { resumable: true, chunkSize: 256 * 1024, contentType: 'video/mp4' });
      expect(emu.getObject('up/multipart.mp4')!.equals(small)).toBe(true);
      expect(emu.getObject('up/resumable.mp4')!.equals(mid)).toBe(true);
      expect(emu.getObject('up/chunked.mp4')!.equals(big)).toBe(true);
      expect(emu.requests.some((r) => r.route === 'storage' && r.status === 308)).toBe(true);

      const [downloaded] = await b.file('up/chunked.mp4').download({ validation: 'crc32c' });
      expect(downloaded.equals(big)).toBe(true);
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve, reject) =>
        b
          .file('up/resumable.mp4')
          .createReadStream({ validation: 'md5' })
          .on('data', (c: Buffer) => chunks.push(c))
          .on('error', reject)
          .on('end', () => resolve()),
      );
      expect(Buffer.concat(chunks).equals(mid)).toBe(true);
      const [meta] = await b.file('up/chunked.mp4').getMetadata();
      expect(meta).toMatchObject({
        size: '700000',
        contentType: 'video/mp4',
        bucket: emu.bucket,
        name: 'up/chunked.mp4',
      });
      expect(typeof meta.generation).toBe('string');
    });

    test('corrupted bytes fail checksum validation on download', async () => {
      const b = storage().bucket(emu.bucket);
      const obj = emu.putObject('corrupt/a.mp4', GoogleEmulator.fakeMp4(5000), 'video/mp4');
      obj.data = Buffer.from(obj.data);
      obj.data[100] = obj.data[100]! ^ 0xff; // stored hashes now describe other bytes
      await expect(b.file('corrupt/a.mp4').download({ validation: 'crc32c' })).rejects.toThrow(/did not match/i);
    });

    test('list with prefix, delimiter and pagination; delete; 404 on metadata', async () => {
      const b = storage().bucket(emu.bucket);
      for (let i = 0; i < 5; i++) emu.putObject(`list/a/${i}.mp4`, Buffer.from(`v${i}`), 'video/mp4');
      emu.putObject('list/b/x.txt', Buffer.from('t'));
      const [all] = await b.getFiles({ prefix: 'list/', maxResults: 100 });
      expect(all.map((f) => f.name)).toEqual([
        'list/a/0.mp4',
        'list/a/1.mp4',
        'list/a/2.mp4',
        'list/a/3.mp4',
        'list/a/4.mp4',
        'list/b/x.txt',
      ]);
      const [page1, next] = await b.getFiles({ prefix: 'list/a/', maxResults: 2, autoPaginate: false });
      expect(page1.map((f) => f.name)).toEqual(['list/a/0.mp4', 'list/a/1.mp4']);
      expect(next).toMatchObject({ pageToken: expect.any(String) });
      const names = page1.map((f) => f.name);
      let query = next as object | null;
      while (query) {
        const [page, following] = await b.getFiles(query);
        expect(page.length).toBeLessThanOrEqual(2);
        names.push(...page.map((f) => f.name));
        query = following as object | null;
      }
      expect(names).toEqual(['list/a/0.mp4', 'list/a/1.mp4', 'list/a/2.mp4', 'list/a/3.mp4', 'list/a/4.mp4']);
      const [paged] = await b.getFiles({ prefix: 'list/a/' });
      expect(paged).toHaveLength(5);
      const [, , apiResponse] = await b.getFiles({ prefix: 'list/', delimiter: '/', autoPaginate: false });
      expect((apiResponse as { prefixes?: string[] }).prefixes).toEqual(['list/a/', 'list/b/']);

      await b.file('list/b/x.txt').delete();
      expect(emu.getObject('list/b/x.txt')).toBeUndefined();
      const [exists] = await b.file('list/b/x.txt').exists();
      expect(exists).toBe(false);
      const err = (await b
        .file('list/b/x.txt')
        .getMetadata()
        .catch((e: unknown) => e)) as { code?: number };
      expect(err.code).toBe(404);
    });

    test('V4 signed URLs are served inside their window and refused when expired or tampered; public URLs', async () => {
      const b = storage().bucket(emu.bucket);
      const data = GoogleEmulator.fakeMp4(2048);
      emu.putObject('signed/dir/v.mp4', data, 'video/mp4');
      const [url] = await b
        .file('signed/dir/v.mp4')
        .getSignedUrl({ version: 'v4', action: 'read', expires: Date.now() + 3600_000 });
      expect(url.startsWith(`${emu.baseUrl}/${emu.bucket}/signed/dir/v.mp4?X-Goog-Algorithm=GOOG4-RSA-SHA256`)).toBe(
        true,
      );
      const ok = await fetch(url);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toBe('video/mp4');
      expect(Buffer.from(await ok.arrayBuffer()).equals(data)).toBe(true);

      const tampered = await fetch(url.replace('X-Goog-Expires=3600', 'X-Goog-Expires=7200'));
      expect(tampered.status).toBe(403);
      expect(await tampered.text()).toContain('SignatureDoesNotMatch');

      emu.advanceSignedUrlClock(3601_000);
      try {
        const expired = await fetch(url);
        expect(expired.status).toBe(400);
        expect(await expired.text()).toContain('ExpiredToken');
      } finally {
        emu.advanceSignedUrlClock(-3601_000);
      }

      const pub = await fetch(b.file('signed/dir/v.mp4').publicUrl());
      expect(pub.status).toBe(200);
      emu.setPublicRead(false);
      try {
        expect((await fetch(b.file('signed/dir/v.mp4').publicUrl())).status).toBe(403);
      } finally {
        emu.setPublicRead(true);
      }
    });

    test('storage faults answer in the JSON API error shape', async () => {
      const b = storage().bucket(emu.bucket);
      emu.putObject('fault/a', Buffer.from('a'));
      emu.injectFault({ route: 'storage', status: 404, message: 'Injected' });
      const err = (await b
        .file('fault/a')
        .getMetadata()
        .catch((e: unknown) => e)) as { code?: number; message?: string };
      expect(err.code).toBe(404);
      expect(err.message).toContain('Injected');
    });
  });
});
