import { Storage } from '@google-cloud/storage';
import type { Logger } from 'pino';
import type { Config } from '../../src/lib/config';
import { StorageService } from '../../src/services/StorageService';
import { GoogleEmulator } from '../emulators/google';
import { startGoogle } from '../emulators/google/testKit';

/** StorageService through the real @google-cloud/storage client against the emulator. */
describe('StorageService against the Google emulator', () => {
  let kit: Awaited<ReturnType<typeof startGoogle>>;
  let emu: GoogleEmulator;
  let config: Config;
  let logger: Logger;
  let svc: StorageService;

  beforeAll(async () => {
    kit = await startGoogle();
    ({ emu, config, logger } = kit);
    svc = StorageService.create(config.google, config.video, logger);
  });
  afterAll(async () => kit.stop());

  const ids = {
    guildId: '111111111111111111',
    channelId: '222222222222222222',
    userId: '333333333333333333',
    requestId: '42',
  };

  test('output folders are built only from ids, and gs:// URIs are parsed strictly', () => {
    expect(svc.outputPrefix(ids, 2)).toBe('111111111111111111/222222222222222222/333333333333333333/42/2/');
    const uuid = '0F8FAD5B-D9CB-469F-A165-70867728950E';
    expect(svc.outputPrefix({ ...ids, requestId: uuid }, 1)).toBe(
      `111111111111111111/222222222222222222/333333333333333333/${uuid.toLowerCase()}/1/`,
    );
    for (const bad of [
      { ...ids, guildId: '../x' },
      { ...ids, channelId: '1/2' },
      { ...ids, userId: '' },
      { ...ids, requestId: '42/../../7' },
      { ...ids, requestId: 'abc' },
    ]) {
      expect(() => svc.outputPrefix(bad, 1)).toThrow(/cannot build an output folder/);
    }
    expect(() => svc.outputPrefix(ids, 0)).toThrow();
    expect(() => svc.outputPrefix(ids, 1.5)).toThrow();

    expect(svc.outputUri('a/b/1/')).toBe(`gs://${emu.bucket}/a/b/1/`);
    for (const bad of ['', '/a/', 'a/../b/', 'a', 'a//b/'])
      expect(() => svc.outputUri(bad)).toThrow(/invalid output folder/);
    expect(svc.parseGsUri('gs://veobot-test-videos/a/b/sample_0.mp4')).toEqual({
      bucket: 'veobot-test-videos',
      name: 'a/b/sample_0.mp4',
    });
    for (const bad of ['https://x/y', 'gs://bucket', 'gs://bucket/', 'gs://B/x', 'gs://bucket/a/../b'])
      expect(() => svc.parseGsUri(bad)).toThrow();
  });

  test('listOutputs finds only .mp4 objects under the folder, nested or not', async () => {
    const prefix = svc.outputPrefix(ids, 1);
    emu.putObject(`${prefix}123456/sample_0.mp4`, GoogleEmulator.fakeMp4(1234), 'video/mp4');
    emu.putObject(`${prefix}sample_1.mp4`, GoogleEmulator.fakeMp4(10), 'video/mp4');
    emu.putObject(`${prefix}123456/notes.txt`, Buffer.from('x'), 'text/plain');
    emu.putObject(`${svc.outputPrefix(ids, 11)}sample_0.mp4`, GoogleEmulator.fakeMp4(5), 'video/mp4'); // attempt 11 is not attempt 1
    const outputs = await svc.listOutputs(prefix);
    expect(outputs).toEqual([
      {
        gsUri: `gs://${emu.bucket}/${prefix}123456/sample_0.mp4`,
        name: `${prefix}123456/sample_0.mp4`,
        size: 1234,
        contentType: 'video/mp4',
      },
      {
        gsUri: `gs://${emu.bucket}/${prefix}sample_1.mp4`,
        name: `${prefix}sample_1.mp4`,
        size: 10,
        contentType: 'video/mp4',
      },
    ]);
    expect(await svc.listOutputs(svc.outputPrefix(ids, 9))).toEqual([]);
  });

  test('getSize and a checksum-validated stream; a corrupted object fails the stream; a missing one 404s', async () => {
    const data = GoogleEmulator.fakeMp4(300_000);
    emu.putObject('stream/ok.mp4', data, 'video/mp4');
    const uri = `gs://${emu.bucket}/stream/ok.mp4`;
    expect(await svc.getSize(uri)).toBe(300_000);
    const chunks: Buffer[] = [];
    for await (const c of svc.createReadStream(uri)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);

    const obj = emu.putObject('stream/bad.mp4', GoogleEmulator.fakeMp4(4000), 'video/mp4');
    obj.data = Buffer.from(obj.data);
    obj.data[50] = obj.data[50]! ^ 1;
    await expect(
      (async () => {
        for await (const _ of svc.createReadStream(`gs://${emu.bucket}/stream/bad.mp4`)) void _;
      })(),
    ).rejects.toThrow(/did not match/);

    await expect(svc.getSize(`gs://${emu.bucket}/stream/missing.mp4`)).rejects.toMatchObject({ code: 404 });
  });

  test('signed links are fetchable over HTTP, refused once expired', async () => {
    const data = GoogleEmulator.fakeMp4(9000);
    emu.putObject('links/v.mp4', data, 'video/mp4');
    const uri = `gs://${emu.bucket}/links/v.mp4`;
    const url = await svc.getLink(uri);
    expect(url).toContain('X-Goog-Signature=');
    expect(url).toContain(`X-Goog-Expires=${config.video.signedUrlExpiryHours * 3600}`);
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(data)).toBe(true);

    emu.advanceSignedUrlClock((config.video.signedUrlExpiryHours * 3600 + 1) * 1000);
    try {
      const expired = await fetch(url);
      expect(expired.status).toBe(400);
      expect(await expired.text()).toContain('ExpiredToken');
    } finally {
      emu.advanceSignedUrlClock(-(config.video.signedUrlExpiryHours * 3600 + 1) * 1000);
    }
    expect(kit.logText()).not.toContain('X-Goog-Signature');
  });

  test('public link mode returns the object URL', async () => {
    emu.putObject('links/pub.mp4', Buffer.from('pub'), 'video/mp4');
    const pub = new StorageService({
      storage: new Storage({ apiEndpoint: emu.baseUrl, projectId: emu.project }),
      bucket: emu.bucket,
      linkMode: 'public',
      signedUrlExpiryHours: 1,
      logger,
    });
    const url = await pub.getLink(`gs://${emu.bucket}/links/pub.mp4`);
    expect(url).toBe(`${emu.baseUrl}/${emu.bucket}/links%2Fpub.mp4`);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('pub');
  });

  test('constructor validates its settings', () => {
    const storage = new Storage({ apiEndpoint: emu.baseUrl, projectId: emu.project });
    expect(
      () => new StorageService({ storage, bucket: 'gs://x', linkMode: 'signed', signedUrlExpiryHours: 1, logger }),
    ).toThrow();
    expect(
      () => new StorageService({ storage, bucket: emu.bucket, linkMode: 'signed', signedUrlExpiryHours: 169, logger }),
    ).toThrow();
  });
});
