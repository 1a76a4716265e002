import type { APIActionRowComponent, APIButtonComponent, APIEmbed } from 'discord.js';
import type { Logger } from 'pino';
import { isCancelled } from '../domain/iteration';
import type { Phase, ProgressObserver, Thumbnail } from '../domain/ports';
import type { VideoRequestRow } from '../domain/request';
import type { QueueInfo } from '../domain/spend';
import { progressEmbed, resultEmbed } from './embeds';
import { fitEmbed } from './limits';
import { progressComponents } from './iterationViews';
import { ThrottledEditor } from './ThrottledEditor';

/** One state of the progress message. */
interface ProgressView {
  embeds: APIEmbed[];
  components: APIActionRowComponent<APIButtonComponent>[];
  /** the first frame the embed shows (attached with the first edit that shows it) */
  thumbnail?: Thumbnail;
}

/** The reply a LiveProgress edits (a deferred interaction reply). */
export interface EditableReply {
  editReply(options: {
    content?: string;
    embeds: APIEmbed[];
    components: APIActionRowComponent<APIButtonComponent>[];
    allowedMentions: { parse: [] };
    files?: { attachment: Buffer; name: string }[];
  }): Promise<unknown>;
}

/**
 * The live progress embed of a `/video` reply (or of a result button's reply): shown when the phase changes and
 * refreshed on a ticker while Veo works, through one ThrottledEditor (at most one edit every `minIntervalMs`), and
 * never after the result. While the request is queued it offers Cancel. The first frame, if any, is attached to the
 * first edit that reaches Discord once it is known (at the start, or when the worker has fetched it: onThumbnail) and
 * shown as the thumbnail from then on (a message's own attachment does not expire).
 */
export class LiveProgress implements ProgressObserver {
  private phase: Phase = 'queued';
  private queue: QueueInfo | undefined;
  private row: VideoRequestRow | undefined;
  private timer: NodeJS.Timeout | undefined;
  private thumbnailShown = false;
  private readonly editor: ThrottledEditor<ProgressView>;

  public constructor(
    private readonly reply: EditableReply,
    private readonly startedAt: number,
    private readonly minIntervalMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private thumbnail?: Thumbnail,
  ) {
    this.editor = new ThrottledEditor(
      (view) => this.publish(view),
      minIntervalMs,
      (error) => this.failed(error),
      now,
    );
  }

  private async publish({ thumbnail, ...view }: ProgressView): Promise<void> {
    const attach = thumbnail && !this.thumbnailShown ? thumbnail : undefined;
    await this.reply.editReply({
      ...view,
      allowedMentions: { parse: [] },
      ...(attach ? { files: [{ attachment: attach.data, name: attach.name }] } : {}),
    });
    if (attach) this.thumbnailShown = true;
  }

  private failed(error: unknown): void {
    this.logger.debug({ err: error }, 'progress edit failed');
  }

  public async onPhase(phase: Phase, row: VideoRequestRow, queue?: QueueInfo): Promise<void> {
    this.row = row;
    this.phase = phase;
    this.queue = phase === 'queued' ? queue : undefined;
    if (phase === 'delivering') {
      // The result replaces this embed; no progress edit may land after it.
      await this.stop();
      return;
    }
    this.refresh();
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.minIntervalMs);
      this.timer.unref();
    }
  }

  public onThumbnail(thumbnail: Thumbnail): void {
    if (this.thumbnail) return;
    this.thumbnail = thumbnail;
    this.refresh();
  }

  private refresh(): void {
    if (!this.row) return;
    this.editor.push({
      embeds: [progressEmbed(this.row, this.phase, this.now() - this.startedAt, this.thumbnail?.name, this.queue)],
      components: progressComponents(this.row, this.phase),
      thumbnail: this.thumbnail,
    });
  }

  /**
   * The ticker's refresh. While queued, the embed changes when the request's place does (onPhase), not every tick:
   * hundreds may wait in a burst, and each tick would be one more edit per request for nothing new.
   */
  private tick(): void {
    if (this.phase !== 'queued') this.refresh();
  }

  /** Resolves once what was pushed so far is shown (or after `timeoutMs`, whichever comes first). */
  public async shown(timeoutMs: number): Promise<void> {
    await Promise.race([this.editor.idle(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Stops; when the requester cancelled the request meanwhile, the reply says so last (after any edit in flight). */
  public async onEnd(taken?: VideoRequestRow | null): Promise<void> {
    await this.stop();
    if (!taken || !isCancelled(taken)) return;
    const thumbnail = this.thumbnailShown ? this.thumbnail?.name : undefined;
    await this.reply
      .editReply({
        content: '',
        embeds: [fitEmbed(resultEmbed(taken, { resumed: false, thumbnail }))],
        components: [],
        allowedMentions: { parse: [] },
      })
      .catch((error: unknown) => this.failed(error));
  }

  public async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.editor.stop();
  }
}
