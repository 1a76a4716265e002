import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { AnnouncementRepository, RequestRepository, RequestViews } from '../db/repositories';
import { DuplicateInteractionError, FencedWriteError } from '../domain/errors';
import {
  isCancellable,
  resultActions,
  SEED_RANGE,
  specFromPress,
  type Origin,
  type PressChange,
} from '../domain/iteration';
import { HISTORY_SIZE } from '../domain/policy';
import type { Thumbnail } from '../domain/ports';
import type { Lease, LeasedRequest, RequestOrigin, VideoRequestRow } from '../domain/request';
import type { Config } from '../lib/config';
import type { ImageInputService } from './ImageInputService';
import type { LeaseManager } from './LeaseManager';
import type { InteractionContext, RecordedRequest, Refusal, VideoRequestService } from './VideoRequestService';

/** Who pressed, and where. */
export interface Presser {
  userId: string;
  guildId: string;
}

/** A press of a result button: which button, on which request, which press of it. */
export interface Press {
  kind: RequestOrigin;
  parentId: string;
  seq: number;
  /** Retry: without audio (the filter stopped the audio) */
  audioOff?: boolean;
}

export type PressResult =
  | { kind: 'recorded'; recorded: RecordedRequest; parent: VideoRequestRow }
  /**
   * Not allowed (not the requester, not possible for this request…): the reason, for the presser only; `refusal`
   * when a spend cap or a server setting refused it (the piece words it, src/discord/spendViews).
   */
  | { kind: 'refused'; reason: string; refusal?: Refusal }
  /** This very interaction was recorded already (another instance, or a replay): that one answers it. */
  | { kind: 'duplicate_interaction' }
  /** The same press (a double click) already made a request. */
  | { kind: 'already_pressed'; existing: VideoRequestRow | null };

export type CancelResult = { kind: 'cancelled'; claim: LeasedRequest } | { kind: 'refused'; reason: string };

export interface IterationServiceDeps {
  requests: RequestRepository;
  views: RequestViews;
  announcements: AnnouncementRepository;
  leases: LeaseManager;
  videoRequests: VideoRequestService;
  images: ImageInputService;
  config: Pick<Config, 'resume'>;
  logger: Logger;
  instanceId: string;
  /** the seed of a Reroll (default: crypto-random uint32) */
  newSeed?: () => number;
}

/**
 * The buttons on results (Reroll, Extend, Edit prompt, Retry), the Cancel button of a request not yet sent to Veo, and
 * `/history`. Every press is checked here (only the requester, only what the request allows) and becomes a new request
 * through `VideoRequestService.record`, the one path every admission rule applies to.
 */
export class IterationService {
  private readonly newSeed: () => number;

  public constructor(private readonly deps: IterationServiceDeps) {
    this.newSeed = deps.newSeed ?? (() => randomInt(0, SEED_RANGE));
  }

  /** The request a button is on, if the presser may use its buttons (their own request, in this server). */
  public async target(
    parentId: string,
    who: Presser,
  ): Promise<{ ok: true; row: VideoRequestRow } | { ok: false; reason: string }> {
    const row = await this.deps.requests.getById(parentId);
    // Another server's request is as good as unknown here.
    if (!row || row.guildId !== who.guildId) return { ok: false, reason: 'This video request no longer exists.' };
    if (row.userId !== who.userId) {
      return {
        ok: false,
        reason: `Only <@${row.userId}> can use the buttons on their video. Run \`/video\` to make your own.`,
      };
    }
    return { ok: true, row };
  }

  /** What Edit prompt prefills its modal with, if the presser may edit this request. */
  public async editDefaults(
    parentId: string,
    who: Presser,
  ): Promise<{ ok: true; prompt: string; negativePrompt: string | null } | { ok: false; reason: string }> {
    const target = await this.target(parentId, who);
    if (!target.ok) return target;
    if (!resultActions(target.row).edit) return { ok: false, reason: 'This request cannot be edited.' };
    return { ok: true, prompt: target.row.prompt, negativePrompt: target.row.negativePrompt };
  }

  /**
   * Makes the request a press asks for, once: the press's interaction id and (parent, button, press) are unique keys,
   * so a replayed interaction, a double click or two instances receiving the same press record one request.
   */
  public async press(
    press: Press,
    context: InteractionContext,
    edit?: { prompt: string; negativePrompt: string | null },
  ): Promise<PressResult> {
    const { videoRequests } = this.deps;
    if (!videoRequests.accepting) return { kind: 'refused', reason: 'The bot is restarting. Try again in a minute.' };
    const target = await this.target(press.parentId, context);
    if (!target.ok) return { kind: 'refused', reason: target.reason };
    const parent = target.row;
    const change = this.change(press, parent, edit);
    if (typeof change === 'string') return { kind: 'refused', reason: change };
    // The servers, channels and options allowed, the quotas and the budgets are checked where the row is written.
    const origin: Origin = { parentId: parent.id, kind: press.kind, seq: press.seq };
    try {
      const recorded = await videoRequests.record(specFromPress(parent, change), context, origin);
      return { kind: 'recorded', recorded, parent };
    } catch (error) {
      const refusal = videoRequests.refusalOf(error);
      if (refusal) return { kind: 'refused', reason: 'This server or the bot does not allow that video now.', refusal };
      if (!(error instanceof DuplicateInteractionError)) throw error;
      if (await this.deps.requests.getByInteractionId(context.interactionId)) return { kind: 'duplicate_interaction' };
      return {
        kind: 'already_pressed',
        existing: await this.deps.requests.getByOrigin(parent.id, press.kind, press.seq),
      };
    }
  }

  /** What the press changes, or why this request does not offer that button. */
  private change(
    press: Press,
    parent: VideoRequestRow,
    edit?: { prompt: string; negativePrompt: string | null },
  ): PressChange | string {
    const actions = resultActions(parent);
    switch (press.kind) {
      case 'reroll':
        return actions.reroll ? { kind: 'reroll', seed: this.newSeed() } : 'Only a finished video can be rerolled.';
      case 'extend':
        return actions.extend
          ? { kind: 'extend' }
          : 'Veo cannot extend this video (only finished Veo 3.1 videos of up to 30 seconds).';
      case 'edit':
        if (!actions.edit || !edit) return 'This request cannot be edited.';
        return { kind: 'edit', prompt: edit.prompt, negativePrompt: edit.negativePrompt };
      case 'retry':
        if (!actions.retry) return 'Only a failed request can be retried.';
        return { kind: 'retry', audioOff: press.audioOff === true || actions.retry === 'audio_off' };
    }
  }

  /**
   * The requester's Cancel of a request not yet sent to Veo: one fenced update that wins only before a submit attempt
   * is recorded (RequestRepository.cancel). The cancelled row comes back leased to this instance, which tells the
   * requester (`cancelShown`).
   */
  public async cancel(requestId: string, who: Presser): Promise<CancelResult> {
    const target = await this.target(requestId, who);
    if (!target.ok) return { kind: 'refused', reason: target.reason };
    if (!isCancellable(target.row)) return { kind: 'refused', reason: tooLate(target.row) };
    const claim = await this.deps.requests.cancel(
      { id: requestId, userId: who.userId, guildId: who.guildId },
      this.deps.instanceId,
      this.deps.config.resume.leaseDurationMs,
    );
    if (claim) return { kind: 'cancelled', claim };
    const now = await this.deps.requests.getById(requestId);
    return { kind: 'refused', reason: now ? tooLate(now) : 'This video request no longer exists.' };
  }

  /** The cancelled request's message now says "Cancelled": its announcement is made; the lease is given back. */
  public async cancelShown(lease: Lease, messageId: string): Promise<void> {
    try {
      await this.deps.announcements.recordAnnouncementSent(lease, messageId, null);
    } catch (error) {
      if (!(error instanceof FencedWriteError)) throw error;
    } finally {
      await this.deps.leases.release(lease);
    }
  }

  /** Gives a lease back (a cancel that could not be shown is then announced by a sweep). */
  public async release(lease: Lease): Promise<void> {
    await this.deps.leases.release(lease);
  }

  /** `/history`: the member's latest requests in this server (their own only). */
  public history(who: Presser): Promise<VideoRequestRow[]> {
    return this.deps.views.history(who.guildId, who.userId, HISTORY_SIZE);
  }

  /** The first frame of a request, to show on its progress embed. */
  public thumbnailFor(row: VideoRequestRow): Promise<Thumbnail | undefined> {
    return this.deps.images.thumbnailFor(row);
  }
}

function tooLate(row: VideoRequestRow): string {
  if (row.status === 'pending' || row.status === 'generating')
    return 'Too late to cancel: the request was already sent to Veo, which bills it.';
  return 'This request has already ended.';
}
