import { existsSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TrafficWatch } from '../conformance';
import { startGoogle } from '../emulators/google/testKit';
import { StorageService } from '../../src/services/StorageService';
import { VideoAttachmentService } from '../../src/services/VideoAttachmentService';

jest.setTimeout(60_000);

const MiB = 1024 * 1024;
const SIZE = 19 * MiB;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * A 19 MiB video (just under Discord's default 20 MiB upload limit) through VideoAttachmentService.prepare with the
 * real Cloud Storage client against the emulator: delivered intact as an attachment. Also prints the memory figure
 * for the report: peak growth of rss and arrayBuffers while preparing (the emulator's own copy is allocated before).
 */
describe('delivering a 19 MiB video as an attachment', () => {
  let google: Awaited<ReturnType<typeof startGoogle>>;
  const traffic = new TrafficWatch();
  beforeAll(async () => {
    google = await startGoogle();
    traffic.watchGoogle(google.emu);
  });
  afterAll(async () => {
    await google?.stop();
    // What StorageService sent, against the Cloud Storage discovery document (tests/conformance).
    traffic.assertConforming();
  });

  it('downloads it whole and intact to a temporary file, and reports the memory it took', async () => {
    const data = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i += 4096) data.writeUInt32BE(i, i);
    google.emu.putObject('g/c/u/r/1/0001/sample_0.mp4', data, 'video/mp4');
    const storage = StorageService.create(google.config.google, google.config.video, google.logger);
    const attachments = new VideoAttachmentService(storage, google.logger);
    const uri = `gs://${google.emu.bucket}/g/c/u/r/1/0001/sample_0.mp4`;
    // Warm up the client (auth, sockets) with a small object so the figure is about the video.
    google.emu.putObject('warm.mp4', Buffer.alloc(1024), 'video/mp4');
    await attachments.prepare(`gs://${google.emu.bucket}/warm.mp4`, 20 * MiB);

    gc();
    const base = process.memoryUsage();
    let peakRss = base.rss;
    let peakBuffers = base.arrayBuffers;
    const sample = () => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
    };
    const sampler = setInterval(sample, 1);
    let video;
    try {
      video = await attachments.prepare(uri, 20 * MiB);
    } finally {
      clearInterval(sampler);
    }
    sample();

    expect(video.kind).toBe('attachment');
    if (video.kind !== 'attachment') return;
    expect(video.size).toBe(SIZE);
    // Downloaded (checksum-validated) to a temporary file that the upload streams from; released afterwards.
    expect(readFileSync(video.path).equals(data)).toBe(true);
    await video.release();
    expect(existsSync(video.path)).toBe(false);
    const mib = (n: number) => (n / MiB).toFixed(1);
    console.log(
      `[figure] prepare(19 MiB): peak rss growth ${mib(peakRss - base.rss)} MiB, peak arrayBuffers growth ${mib(peakBuffers - base.arrayBuffers)} MiB ` +
        `(video ${mib(SIZE)} MiB; emulator copy allocated before the baseline)`,
    );
  });
});
