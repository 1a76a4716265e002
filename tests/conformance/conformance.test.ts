// Unit tests of the conformance checker itself (over 400 lines: one case per rule and per quirk of both specs): known-good requests pass, and a bad body, an unknown route, an
// unknown field or query parameter fails naming the route template and the field path. The last block drives the
// real @google-cloud/storage and @google/genai clients against the Google emulator and checks what it recorded.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { GenerateVideosOperation, GoogleGenAI } from '@google/genai';
import type { RecordedCall } from '../emulators/discord';
import { GoogleEmulator, type RequestRecord } from '../emulators/google';
import {
  checkTraffic,
  ConformanceError,
  DISCORD_QUIRKS,
  discordConformance,
  formatViolations,
  GOOGLE_QUIRKS,
  googleConformance,
  TrafficWatch,
} from '.';

const call = (c: Partial<RecordedCall> & { method: string; path: string }): RecordedCall => ({
  query: {},
  body: undefined,
  files: [],
  status: 200,
  response: undefined,
  authorized: true,
  at: 0,
  ...c,
});
const discord = (c: Partial<RecordedCall> & { method: string; path: string }) =>
  discordConformance().checkCall(call(c));
const fields = (found: { field: string }[]) => found.map((f) => f.field);

const CALLBACK = '/interactions/1300000000000000001/aW50ZXJhY3Rpb24:tok/callback';
const ORIGINAL = '/webhooks/1200000000000000001/aW50ZXJhY3Rpb24:tok/messages/@original';

describe('Discord conformance', () => {
  test('known-good requests pass', () => {
    expect(
      discord({
        method: 'POST',
        path: CALLBACK,
        query: { with_response: 'true' },
        authorized: false,
        body: { type: 5, data: { flags: 64 } },
      }),
    ).toEqual([]);
    expect(
      discord({
        method: 'POST',
        path: '/channels/1100000000000000001/messages',
        body: {
          content: '<@1> your video is ready',
          nonce: 'req-1',
          enforce_nonce: true,
          allowed_mentions: { parse: [], users: ['1'] },
          components: [{ type: 1, components: [{ type: 2, style: 5, label: 'Open', url: 'https://example.com/v' }] }],
        },
      }),
    ).toEqual([]);
    // discord.js numbers new attachments by their files[n] part (quirk discord/attachment-index-ids).
    expect(
      discord({
        method: 'PATCH',
        path: ORIGINAL,
        authorized: false,
        body: { content: 'done', attachments: [{ id: 0, description: 'video' }] },
        files: [{ field: 'files[0]', name: 'video.mp4', size: 10, contentType: 'video/mp4' }],
      }),
    ).toEqual([]);
    expect(
      discord({
        method: 'GET',
        path: '/channels/1100000000000000001/messages',
        query: { limit: '50', before: '1100000000000000009' },
      }),
    ).toEqual([]);
  });

  test('a bad body value fails with the route template and the JSON path of the field', () => {
    const found = discord({
      method: 'POST',
      path: CALLBACK,
      authorized: false,
      body: { type: 4, data: { content: 'x'.repeat(2001), flags: '64' } },
    });
    expect(found.map((f) => f.route)).toEqual([
      'POST /interactions/{interaction_id}/{interaction_token}/callback',
      'POST /interactions/{interaction_id}/{interaction_token}/callback',
    ]);
    expect(fields(found).sort()).toEqual(['data.content', 'data.flags']);
    expect(found.find((f) => f.field === 'data.flags')).toMatchObject({ sent: '64' });
  });

  test('an unknown field fails (Discord would silently drop it)', () => {
    const found = discord({
      method: 'POST',
      path: CALLBACK,
      authorized: false,
      body: { type: 4, data: { content: 'hi', ephemeral: true } },
    });
    expect(found).toEqual([
      expect.objectContaining({ field: 'data.ephemeral', message: 'unknown field (not in the schema)', sent: true }),
    ]);
  });

  test("discord.js's tts/enforce_nonce false on edits is accepted; true is not", () => {
    const edit = (extra: object) =>
      discord({ method: 'PATCH', path: ORIGINAL, authorized: false, body: { content: 'x', ...extra } });
    expect(edit({ tts: false, enforce_nonce: false })).toEqual([]);
    expect(fields(edit({ tts: true }))).toEqual(['tts']);
  });

  test('nested unions follow the alternative the data names by its type', () => {
    const found = discord({
      method: 'POST',
      path: '/channels/1/messages',
      body: { components: [{ type: 1, components: [{ type: 2, style: 9, label: 'a', custom_id: 'b', colour: 1 }] }] },
    });
    expect(found.map((f) => `${f.field}: ${f.message}`).sort()).toEqual([
      'components[0].components[0].colour: unknown field (not in the schema)',
      'components[0].components[0].style: must be one of [1,2,3,4,5,6]',
    ]);
  });

  test('unknown routes, methods and query parameters fail', () => {
    expect(discord({ method: 'GET', path: '/channels/1/nothing-here' })).toEqual([
      expect.objectContaining({ route: '/channels/1/nothing-here', message: expect.stringContaining('no such route') }),
    ]);
    expect(discord({ method: 'PUT', path: '/channels/1/messages' })).toEqual([
      expect.objectContaining({
        route: 'PUT /channels/{channel_id}/messages',
        message: expect.stringContaining('method not in the document'),
      }),
    ]);
    expect(
      fields(discord({ method: 'GET', path: '/channels/1/messages', query: { limit: '500', sort: 'asc' } })),
    ).toEqual(['?limit', '?sort']);
    expect(fields(discord({ method: 'GET', path: '/channels/abc/messages' }))).toEqual(['{channel_id}']);
  });

  test('bot-token routes need the Authorization header; interaction webhooks do not', () => {
    expect(discord({ method: 'GET', path: '/channels/1', authorized: false })).toEqual([
      expect.objectContaining({
        route: 'GET /channels/{channel_id}',
        message: expect.stringContaining('Authorization'),
      }),
    ]);
    expect(discord({ method: 'DELETE', path: ORIGINAL, authorized: false })).toEqual([]);
  });

  test('an attachment index needs its files[n] part', () => {
    expect(discord({ method: 'PATCH', path: ORIGINAL, authorized: false, body: { attachments: [{ id: 1 }] } })).toEqual(
      [expect.objectContaining({ field: 'attachments[0].id', message: expect.stringContaining('files[1]') })],
    );
    expect(
      fields(
        discord({
          method: 'PATCH',
          path: ORIGINAL,
          authorized: false,
          body: {},
          files: [{ field: 'video', name: 'v.mp4', size: 1, contentType: 'video/mp4' }],
        }),
      ),
    ).toEqual(['(files) video']);
  });

  test('registered commands: the schema, permissions as strings, and the documented naming and order rules', () => {
    const good = {
      name: 'video',
      description: 'Make a video',
      default_member_permissions: '8',
      options: [
        { type: 3, name: 'prompt', description: 'What to show', required: true },
        { type: 4, name: 'length', description: 'Seconds', choices: [{ name: '4 s', value: 4 }] },
      ],
    };
    expect(discord({ method: 'PUT', path: '/applications/1/commands', body: [good] })).toEqual([]);
    const bad = {
      ...good,
      name: 'Video',
      default_member_permissions: 'admin',
      options: [
        { type: 3, name: 'style', description: 'Style' },
        { type: 3, name: 'prompt', description: 'What to show', required: true },
        { type: 11, name: 'image', description: '' },
      ],
    };
    const found = discord({ method: 'PUT', path: '/applications/1/commands', body: [bad] });
    expect(fields(found).sort()).toEqual([
      '[0].default_member_permissions',
      '[0].name',
      '[0].options[1].required',
      '[0].options[2].description',
    ]);
  });

  test('every quirk is documented in README.md', () => {
    const readme = readFileSync(join(__dirname, 'README.md'), 'utf8');
    for (const q of [...DISCORD_QUIRKS, ...GOOGLE_QUIRKS]) expect(readme).toContain(q.id);
  });
});

const VERTEX = '/v1/projects/p/locations/us-central1/publishers/google/models/veo-3.1-generate-001';
const record = (r: Partial<RequestRecord> & { method: string; path: string }): RequestRecord => ({
  route: 'storage',
  status: 200,
  query: [],
  headers: {},
  bodyBytes: 0,
  ...r,
});
const vertex = (r: Partial<RequestRecord> & { method: string; path: string }) =>
  googleConformance().checkRequest(
    record({
      route: 'submit',
      headers: { authorization: 'Bearer', 'content-type': 'application/json' },
      bodyBytes: 10,
      ...r,
    }),
  );
const storage = (r: Partial<RequestRecord> & { method: string; path: string }) =>
  googleConformance().checkRequest(record(r));

describe('Google conformance', () => {
  test('known-good Vertex requests pass (proto3 JSON names too)', () => {
    expect(
      vertex({
        method: 'POST',
        path: `${VERTEX}:predictLongRunning`,
        body: { instances: [{ prompt: 'a fox' }], parameters: { storageUri: 'gs://b/p/', sampleCount: 1 } },
      }),
    ).toEqual([]);
    expect(vertex({ method: 'POST', path: `${VERTEX}:fetchPredictOperation`, body: { operationName: 'x' } })).toEqual(
      [],
    );
    expect(vertex({ method: 'POST', path: `${VERTEX}:fetchPredictOperation`, body: { operation_name: 'x' } })).toEqual(
      [],
    );
  });

  test('unknown and missing fields fail with their path (Google: 400 "Unknown name")', () => {
    expect(
      vertex({ method: 'POST', path: `${VERTEX}:predictLongRunning`, body: { instance: [{ prompt: 'x' }] } }).map(
        (f) => [f.route, f.field, f.message],
      ),
    ).toEqual([
      [
        'POST v1/{+endpoint}:predictLongRunning [aiplatform.projects.locations.publishers.models.predictLongRunning]',
        'instances',
        'required field is missing',
      ],
      [
        'POST v1/{+endpoint}:predictLongRunning [aiplatform.projects.locations.publishers.models.predictLongRunning]',
        'instance',
        'unknown field (not in the schema)',
      ],
    ]);
    expect(
      fields(vertex({ method: 'POST', path: `${VERTEX}:fetchPredictOperation`, body: { operationName: 7 } })),
    ).toEqual(['operationName']);
  });

  test('Vertex: unknown paths, wrong HTTP methods, query parameters and missing OAuth fail', () => {
    expect(vertex({ method: 'POST', path: `${VERTEX}:predict`, body: {} })[0]).toMatchObject({
      route: `${VERTEX}:predict`,
      message: expect.stringContaining('no method of aiplatform v1'),
    });
    expect(vertex({ method: 'GET', path: `${VERTEX}:predictLongRunning` })[0]!.message).toContain('HTTP method GET');
    expect(
      fields(
        vertex({
          method: 'POST',
          path: `${VERTEX}:fetchPredictOperation`,
          query: [
            ['alt', 'sse'],
            ['key2', 'x'],
          ],
          headers: { 'content-type': 'application/json' },
          body: { operationName: 'x' },
        }),
      ),
    ).toEqual(['?alt', '?key2', '<authorization>']);
  });

  test('Cloud Storage: list, metadata and media downloads pass; undeclared query parameters fail', () => {
    expect(storage({ method: 'GET', path: '/storage/v1/b/bkt/o', query: [['prefix', 'a/']] })).toEqual([]);
    expect(storage({ method: 'GET', path: '/storage/v1/b/bkt/o/a%2Fb.mp4' })).toEqual([]);
    expect(storage({ method: 'GET', path: '/storage/v1/b/bkt/o/a%2Fb.mp4', query: [['alt', 'media']] })).toEqual([]);
    expect(
      storage({ method: 'GET', path: '/download/storage/v1/b/bkt/o/a%2Fb.mp4', query: [['alt', 'media']] }),
    ).toEqual([]);
    expect(
      storage({
        method: 'GET',
        path: '/storage/v1/b/bkt/o',
        query: [
          ['autoPaginate', 'true'],
          ['maxResults', 'many'],
        ],
      }).map((f) => [f.route, f.field]),
    ).toEqual([
      ['GET b/{bucket}/o [storage.objects.list]', '?autoPaginate'],
      ['GET b/{bucket}/o [storage.objects.list]', '?maxResults'],
    ]);
    expect(storage({ method: 'GET', path: '/storage/v1/b/bkt/o/x', query: [['alt', 'proto']] })[0]).toMatchObject({
      field: '?alt',
    });
  });

  test('Cloud Storage uploads: multipart metadata, media names and the resumable protocol', () => {
    const multipart = (json: unknown) =>
      storage({
        method: 'POST',
        path: '/upload/storage/v1/b/bkt/o',
        query: [['uploadType', 'multipart']],
        headers: { 'content-type': 'multipart/related; boundary=x' },
        bodyBytes: 100,
        parts: [
          { headers: { 'content-type': 'application/json' }, bytes: 20, json },
          { headers: { 'content-type': 'video/mp4' }, bytes: 80 },
        ],
      });
    expect(multipart({ name: 'a/b.mp4', contentType: 'video/mp4', metadata: { k: 'v' } })).toEqual([]);
    expect(fields(multipart({ name: 'a/b.mp4', contentTyp: 'video/mp4' }))).toEqual(['contentTyp']);
    expect(fields(multipart({ contentType: 'video/mp4' }))).toEqual(['?name']);
    expect(
      fields(
        storage({
          method: 'POST',
          path: '/upload/storage/v1/b/bkt/o',
          query: [['uploadType', 'media']],
          headers: { 'content-type': 'video/mp4' },
          bodyBytes: 10,
        }),
      ),
    ).toEqual(['?name']);
    expect(
      storage({
        method: 'POST',
        path: '/upload/storage/v1/b/bkt/o',
        query: [
          ['uploadType', 'resumable'],
          ['name', 'a.mp4'],
        ],
        headers: { 'content-type': 'application/json' },
        bodyBytes: 2,
        body: {},
      }),
    ).toEqual([]);
    const session = (range: string) =>
      storage({
        method: 'PUT',
        path: '/upload/storage/v1/b/bkt/o',
        query: [
          ['uploadType', 'resumable'],
          ['upload_id', 'abc'],
        ],
        headers: { 'content-range': range },
        bodyBytes: 10,
      });
    expect(session('bytes 0-9/10')).toEqual([]);
    expect(fields(session('0-9/10'))).toEqual(['<content-range>']);
    expect(
      fields(storage({ method: 'POST', path: '/upload/storage/v1/b/bkt/o', query: [['uploadType', 'x']] })),
    ).toEqual(['?uploadType']);
  });

  test('a report names route, field, what was sent, and the test', () => {
    const violations = checkTraffic({
      discord: [call({ method: 'POST', path: CALLBACK, authorized: false, body: { type: 4, data: { tts: 'no' } } })],
      testOf: () => 'the test',
    });
    const text = formatViolations(violations);
    expect(text).toContain('POST /interactions/{interaction_id}/{interaction_token}/callback');
    expect(text).toContain('field data.tts');
    expect(text).toContain('(sent "no")');
    expect(text).toContain('in test "the test"');
    expect(new ConformanceError(violations).message).toBe(text);
  });
});

describe('Google emulator request recording, with the real clients', () => {
  let emu: GoogleEmulator;
  let dir: string;
  const saved = { ...process.env };
  const watch = new TrafficWatch();

  beforeAll(async () => {
    emu = await GoogleEmulator.start();
    watch.watchGoogle(emu);
    dir = mkdtempSync(join(tmpdir(), 'conformance-google-'));
    Object.assign(process.env, emu.env(emu.writeServiceAccountKey(dir)));
    delete process.env.GOOGLE_API_KEY;
    delete process.env.GEMINI_API_KEY;
  });
  afterAll(async () => {
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
    process.env = saved;
  });

  test('uploads, downloads, listings, a Veo submit and polls all conform, and are recorded in full', async () => {
    const gcs = new Storage({ apiEndpoint: emu.baseUrl, projectId: emu.project });
    const bucket = gcs.bucket(emu.bucket);
    await bucket.file('c/small.mp4').save(Buffer.alloc(1000, 1), { resumable: false, contentType: 'video/mp4' });
    await bucket.file('c/big.mp4').save(Buffer.alloc(300_000, 2), { resumable: true, contentType: 'video/mp4' });
    const [files] = await bucket.getFiles({ prefix: 'c/' });
    expect(files.map((f) => f.name)).toEqual(['c/big.mp4', 'c/small.mp4']);
    await bucket.file('c/small.mp4').getMetadata();
    const [bytes] = await bucket.file('c/big.mp4').download({ validation: 'crc32c' });
    expect(bytes.length).toBe(300_000);

    const ai = new GoogleGenAI({
      vertexai: true,
      project: emu.project,
      location: emu.location,
      apiVersion: 'v1',
      httpOptions: { baseUrl: emu.baseUrl, fetch: (input, init) => fetch(input, init) },
    });
    const op = await ai.models.generateVideos({
      model: 'veo-3.1-generate-001',
      source: { prompt: 'a fox' },
      config: { numberOfVideos: 1, outputGcsUri: `gs://${emu.bucket}/v/`, durationSeconds: 4 },
    });
    await ai.operations.getVideosOperation({ operation: Object.assign(new GenerateVideosOperation(), op) });

    const multipart = emu.requests.find((r) => r.query.some(([k, v]) => k === 'uploadType' && v === 'multipart'));
    expect(multipart?.query).toContainEqual(['name', 'c/small.mp4']);
    expect(multipart?.parts?.[0]?.json).toEqual({ contentType: 'video/mp4' });
    expect(multipart?.parts?.[1]?.bytes).toBe(1000);
    const submit = emu.requests.find((r) => r.route === 'submit')!;
    expect(submit.body).toMatchObject({ instances: [{ prompt: 'a fox' }] });
    expect(submit.headers).toMatchObject({ authorization: 'Bearer', 'content-type': 'application/json' });
    expect(JSON.stringify(emu.requests)).not.toMatch(/eyJ/); // no token is recorded
    expect(emu.requests.some((r) => r.headers['content-range'])).toBe(true);
    expect(watch.check()).toEqual([]);
  });
});
