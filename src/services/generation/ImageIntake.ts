import { classify, THUMBNAIL_MAX_BYTES } from '../../domain/policy';
import { IMAGE_EXTENSIONS } from '../../domain/images';
import { pendingImages, type StoredImage, type VideoRequestRow } from '../../domain/request';
import { StopProcessing, type GenerationDeps, type RequestRun } from './RequestRun';

/**
 * The first step of a request whose images are still on Discord: `/video image:` records its row before acknowledging
 * (so a crash right after "thinking…" cannot lose it) with Discord's attachment URLs in it, and the images are fetched,
 * checked by their content and copied into the bucket here, before anything can be submitted: a request never
 * reaches Veo without its images in the bucket. The live and the resumed path both start here, so a restart after a
 * crash fetches them then, while Discord's URLs still work.
 *
 * - Stored: one fenced write records the `gs://` locations and clears the URLs (only while nothing was submitted).
 * - Not an image Veo takes, or no longer served by Discord: the request fails with the reason (kind `input`: nothing
 *   billed, not counted against the quota).
 * - Discord or the bucket not answering: nothing is written; the lease is given back and a later sweep tries again.
 */
export class ImageIntake {
  public constructor(private readonly deps: GenerationDeps) {}

  public async fetchImages(run: RequestRun, row: VideoRequestRow): Promise<VideoRequestRow> {
    const pending = pendingImages(row);
    if (pending.length === 0) return row;
    const { images, requests } = this.deps;
    const at = {
      guildId: row.guildId,
      channelId: row.channelId,
      userId: row.userId,
      // The folder of the request's inputs: the interaction that asked (rows made otherwise: the request).
      interactionId: row.interactionId ?? row.id,
      requestId: row.id,
    };
    const intakes = await Promise.all(pending.map((image) => images.fetchAndStore(image, at)));

    for (const [i, intake] of intakes.entries()) {
      if (intake.ok || intake.kind === 'unavailable') continue;
      const option = pending[i]!.option;
      run.log.info({ option, intake: intake.kind }, 'an input image cannot be used; the request ends unbilled');
      const event =
        intake.kind === 'refused'
          ? ({ kind: 'image_refused', problem: intake.reason } as const)
          : ({ kind: 'image_gone', option } as const);
      return requests.finish(run.lease, classify(event), ['pending']);
    }
    if (intakes.some((intake) => !intake.ok)) {
      run.log.warn('Discord or the bucket did not answer for an input image; a later sweep tries again');
      throw new StopProcessing('deferred');
    }

    const stored: Partial<Record<'image' | 'last_frame', StoredImage>> = {};
    for (const [i, intake] of intakes.entries()) if (intake.ok) stored[pending[i]!.option] = intake.image;
    const updated = await requests.storeInputImages(run.lease, {
      image: stored.image ?? null,
      lastFrame: stored.last_frame ?? null,
    });
    run.log.info({ image_uri: updated.imageUri, last_frame_uri: updated.lastFrameUri }, 'input images stored');

    // The live progress embed shows the first frame from its next edit (its bytes are here already).
    const first = intakes[pending.findIndex((p) => p.option === 'image')];
    if (first?.ok && first.bytes.length <= THUMBNAIL_MAX_BYTES) {
      const thumbnail = { name: `first_frame.${IMAGE_EXTENSIONS[first.image.mimeType]}`, data: first.bytes };
      await Promise.resolve(run.options.observer?.onThumbnail?.(thumbnail)).catch(() => undefined);
    }
    return updated;
  }
}
