/**
 * The buttons on results, end to end (issue #16, point 2): Reroll, Extend, Edit prompt and Retry each make exactly one
 * new Veo submit with the right inputs: when pressed twice in a row (a double click), when the same interaction is
 * delivered again, and when pressed after the bot was killed and started again (the buttons are on messages of the
 * previous process). Another member's press is refused privately. Each press is a request of its own, linked to the
 * one it came from.
 */
import type { EmulatedMessage, InteractionHandle } from '../emulators/discord';
import type { SubmitRecord } from '../emulators/google';
import { E2EWorld, WORLD } from '../helpers/e2e';
import { pngBytes } from '../helpers/images';
import { buttonId, buttonLabels, press, waitForNewResult, waitForPrivateAnswer } from '../helpers/iterate';
import { submitsFor } from '../helpers/outcomes';
import { field, waitForResult } from '../helpers/videoReplies';
import type { VideoRequestRow } from '../../src/domain/request';

jest.setTimeout(240_000);

const MEMBER = WORLD.users.member.id;
const MEMBER2 = WORLD.users.member2.id;

describe('result buttons (real bot, emulated Discord and Google, real PostgreSQL)', () => {
  let world: E2EWorld;
  /** The parents: a finished video (with an image), a failure at Google, a result whose audio the filter stopped. */
  let video: EmulatedMessage;
  let failed: EmulatedMessage;
  let audioFiltered: EmulatedMessage;
  let parentRow: VideoRequestRow;

  beforeAll(async () => {
    world = await E2EWorld.start();
    world.google.fateForPrompt('[google-fails]', { kind: 'failed', code: 13, message: 'Internal error encountered.' });
    world.google.fateForPrompt('[loud]', {
      kind: 'filtered',
      reasons: ['The audio could not be generated: it may violate our policies. Support codes: 61478390'],
    });
    await world.startBot({ DAILY_QUOTA: '50' });
    video = await waitForResult(
      world.video({
        prompt: 'a lighthouse at dusk',
        length: 4,
        ratio: '9:16',
        negative_prompt: 'rain',
        image: { file: pngBytes(5_000), filename: 'lighthouse.png', contentType: 'image/png' },
      }),
    );
    failed = await waitForResult(world.video({ prompt: 'a storm over the sea [google-fails]', length: 6, seed: 7 }));
    audioFiltered = await waitForResult(world.video({ prompt: 'a marching band [loud]', length: 4 }));
    parentRow = (await world.tracking.requests.getById(requestIdOf(video)))!;
  });
  afterAll(async () => world?.close());

  function requestIdOf(message: EmulatedMessage): string {
    return /Request ([0-9a-f-]{36})/.exec(String(message.embeds[0]?.footer?.text))![1]!;
  }
  /** The request a press made (by its interaction id), once finished and announced. */
  async function childOf(handle: InteractionHandle): Promise<VideoRequestRow> {
    for (const deadline = Date.now() + 40_000; ;) {
      const row = await world.tracking.requests.getByInteractionId(handle.id);
      if (row?.announcement === 'sent') return row;
      if (Date.now() > deadline) throw new Error(`no finished request for interaction ${handle.id}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  async function children(parentId: string): Promise<string[]> {
    const rows = (await world.db.database.dataSource.query(
      `SELECT id FROM video_requests WHERE parent_request_id = $1 ORDER BY created_at`,
      [parentId],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }
  const submitOf = (requestId: string): SubmitRecord => {
    const found = world.google.submits.filter((s) => String(s.parameters.storageUri).includes(requestId));
    expect(found).toHaveLength(1);
    return found[0]!;
  };
  /** The message as it is now (its buttons change after each press). */
  const current = (message: EmulatedMessage) => world.discord.message(message.id)!;
  /** Waits until the press's button on `message` has moved on to its next press. */
  const buttonMovedOn = (message: EmulatedMessage, label: string, before: string) =>
    world.discord.waitFor(() => buttonId(current(message), label) !== before, 10_000, `${label} to move on`);

  /**
   * Presses `label` twice in a row (a double click: two interactions with the same button id) and delivers the first
   * press again; returns the one request they made. Either press may be the one that wins.
   */
  async function pressTwice(message: EmulatedMessage, label: string) {
    const id = buttonId(current(message), label);
    const presses = [
      press(world.discord, current(message), label, MEMBER),
      world.discord.pushComponent({ message: message.id, customId: id, userId: MEMBER }),
    ];
    world.discord.replayInteraction(presses[0]!);
    const winner = await world.discord.waitFor(
      () => presses.find((p) => p.interaction.ackType === 5),
      20_000,
      'one of the two presses to start a request',
    );
    const loser = presses.find((p) => p !== winner)!;
    const result = await waitForNewResult(world.discord, winner);
    expect(await waitForPrivateAnswer(loser)).toMatch(/That press already started a new video/);
    const child = await childOf(winner);
    await buttonMovedOn(message, label, id);
    return { result, child };
  }

  it('offers the buttons each result allows, with ids Discord accepts', () => {
    expect(buttonLabels(video)).toEqual(['Reroll', 'Extend', 'Edit prompt']);
    expect(buttonLabels(failed)).toEqual(['Retry', 'Edit prompt']);
    expect(buttonLabels(audioFiltered)).toEqual(['Retry', 'Edit prompt']);
    expect(field(audioFiltered, 'What now')).toMatch(/\*\*Retry\*\* makes it again without audio/);
    for (const m of [video, failed, audioFiltered]) {
      const ids = m.components.flatMap((r: any) => r.components.map((c: any) => c.custom_id as string));
      expect(new Set(ids).size).toBe(ids.length);
      expect(Math.max(...ids.map((i) => i.length))).toBeLessThanOrEqual(100);
    }
  });

  it('another member’s press is refused privately: no request, no submit, nobody pinged', async () => {
    const before = world.google.submits.length;
    for (const [message, label] of [
      [video, 'Reroll'],
      [video, 'Extend'],
      [video, 'Edit prompt'],
      [failed, 'Retry'],
    ] as const) {
      const handle = press(world.discord, current(message), label, MEMBER2);
      const answer = await handle.waitForReply((m) => m.interactionId === handle.id, 10_000);
      expect(answer).toMatchObject({ ephemeral: true, pinged: { users: [], roles: [], everyone: false } });
      expect(answer.content).toContain(`Only <@${MEMBER}> can use the buttons on their video`);
      expect(handle.interaction.modal).toBeUndefined();
    }
    expect(await world.requestsOf(MEMBER2)).toEqual([]);
    expect(world.google.submits.length).toBe(before);
  });

  it('Reroll: the same settings and image with a new seed; once per press', async () => {
    const before = world.google.submits.length;
    const { result, child } = await pressTwice(video, 'Reroll');
    expect(child).toMatchObject({
      parentRequestId: parentRow.id,
      origin: 'reroll',
      originSeq: 0,
      prompt: 'a lighthouse at dusk',
      negativePrompt: 'rain',
      durationSeconds: 4,
      aspectRatio: '9:16',
      imageUri: parentRow.imageUri,
      userId: MEMBER,
    });
    expect(child.seed).toEqual(expect.any(Number));
    const submit = submitOf(child.id);
    expect(submit.instance).toEqual(
      world.google.submits.find((s) => s.parameters.storageUri!.toString().includes(parentRow.id))!.instance,
    );
    expect(submit.parameters).toMatchObject({
      durationSeconds: 4,
      aspectRatio: '9:16',
      negativePrompt: 'rain',
      seed: child.seed,
    });
    expect(world.google.submits.length - before).toBe(1);
    expect(buttonLabels(result)).toEqual(['Reroll', 'Extend', 'Edit prompt']);
  });

  it('Extend: continues the video with Veo’s extension (7 s, 720p); once per press', async () => {
    const before = world.google.submits.length;
    const { result, child } = await pressTwice(video, 'Extend');
    expect(child).toMatchObject({
      origin: 'extend',
      durationSeconds: 7,
      resolution: '720p',
      sourceVideoUri: parentRow.videoUrls![0],
      sourceVideoSeconds: 4,
      imageUri: null,
    });
    const submit = submitOf(child.id);
    expect(submit.instance).toEqual({
      prompt: 'a lighthouse at dusk',
      video: { gcsUri: parentRow.videoUrls![0], mimeType: 'video/mp4' },
    });
    expect(submit.parameters).toMatchObject({ durationSeconds: 7, resolution: '720p' });
    expect(world.google.submits.length - before).toBe(1);
    expect(field(result, 'Settings')).toMatch(/^4 s \+ 7 s = 11 s \(extended\)/);
    expect(world.google.videoSecondsOf(child.videoUrls![0]!)).toBe(11);
  });

  it('Edit prompt: a modal prefilled with the prompt and negative prompt; its submission makes one request', async () => {
    const before = world.google.submits.length;
    const id = buttonId(current(video), 'Edit prompt');
    const opener = press(world.discord, current(video), 'Edit prompt', MEMBER);
    const opener2 = world.discord.pushComponent({ message: video.id, customId: id, userId: MEMBER });
    expect(await opener.waitForAck(10_000)).toBe(9);
    expect(await opener2.waitForAck(10_000)).toBe(9);
    const inputs = opener.interaction.modal.components.map((c: any) => c.component);
    expect(inputs.map((i: any) => [i.custom_id, i.value])).toEqual([
      ['prompt', 'a lighthouse at dusk'],
      ['negative_prompt', 'rain'],
    ]);
    const submitted = world.discord.pushModalSubmit({
      opener,
      values: { prompt: 'a lighthouse at dawn', negative_prompt: 'fog' },
    });
    // The second modal (opened by the same press of the button, e.g. a double click) is submitted too: it makes nothing.
    await submitted.waitForAck(10_000);
    const again = world.discord.pushModalSubmit({ opener: opener2, values: { prompt: 'a lighthouse at noon' } });
    await waitForNewResult(world.discord, submitted);
    expect(await waitForPrivateAnswer(again)).toMatch(/already started a new video/);
    const child = await childOf(submitted);
    expect(child).toMatchObject({
      origin: 'edit',
      prompt: 'a lighthouse at dawn',
      negativePrompt: 'fog',
      imageUri: parentRow.imageUri,
      aspectRatio: '9:16',
    });
    expect(submitOf(child.id).instance.prompt).toBe('a lighthouse at dawn');
    expect(submitOf(child.id).parameters.negativePrompt).toBe('fog');
    expect(world.google.submits.length - before).toBe(1);
    await buttonMovedOn(video, 'Edit prompt', id);
  });

  it('Retry: repeats a failed request, and without audio when the filter stopped the sound; once per press', async () => {
    const before = world.google.submits.length;
    world.google.fateForPrompt('[google-fails]', { kind: 'done', afterPolls: 1, videoBytes: 20_000 });
    const { child } = await pressTwice(failed, 'Retry');
    const failedRow = (await world.tracking.requests.getById(requestIdOf(failed)))!;
    expect(child).toMatchObject({ origin: 'retry', status: 'completed', prompt: failedRow.prompt, seed: 7 });
    expect(submitOf(child.id).parameters).toMatchObject({ durationSeconds: 6, seed: 7, generateAudio: true });

    world.google.fateForPrompt('[loud]', { kind: 'done', afterPolls: 1, videoBytes: 20_000 });
    const quiet = await pressTwice(audioFiltered, 'Retry');
    expect(quiet.child).toMatchObject({ origin: 'retry', generateAudio: false });
    expect(submitOf(quiet.child.id).parameters.generateAudio).toBe(false);
    expect(world.google.submits.length - before).toBe(2);
  });

  it('after the bot was killed and started again, each button still makes exactly one request', async () => {
    await world.bots[0]!.kill();
    await world.startBot({ DAILY_QUOTA: '50' });
    const before = world.google.submits.length;
    const made: string[] = [];
    for (const [message, label] of [
      [video, 'Reroll'],
      [video, 'Extend'],
      [failed, 'Retry'],
    ] as const) {
      const handle = press(world.discord, current(message), label, MEMBER);
      await waitForNewResult(world.discord, handle);
      const child = await childOf(handle);
      expect(child.originSeq).toBe(1);
      made.push(child.id);
    }
    const opener = press(world.discord, current(video), 'Edit prompt', MEMBER);
    await opener.waitForAck(10_000);
    const submitted = world.discord.pushModalSubmit({ opener, values: { prompt: 'a lighthouse in winter' } });
    await waitForNewResult(world.discord, submitted);
    const edited = await childOf(submitted);
    expect(edited).toMatchObject({
      origin: 'edit',
      originSeq: 1,
      prompt: 'a lighthouse in winter',
      negativePrompt: 'rain',
    });
    made.push(edited.id);
    // Let a duplicate show up if there were one.
    await new Promise((r) => setTimeout(r, 1_500));
    for (const id of made) expect(submitsFor(world.google, id)).toBe(1);
    expect(world.google.submits.length - before).toBe(4);
    expect((await children(parentRow.id)).length).toBe(6); // 2 rerolls, 2 extensions, 2 edits
  });

  it('the bots logged no error or warning while serving all of the above (double presses and replays included)', () => {
    const problems = world.bots.flatMap((b) => b.logs.filter((l) => l.level >= 40));
    expect(problems.map((l) => l.msg)).toEqual([]);
  });
});
