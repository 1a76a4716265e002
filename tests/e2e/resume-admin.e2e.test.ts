import { PermissionFlagsBits } from 'discord.js';
import type { EmulatedMessage, InteractionHandle } from '../emulators/discord';
import { E2EWorld, WORLD } from '../helpers/e2e';

// `/resume status | run | expire` against the real bot process, the Discord and Google emulators and PostgreSQL.
// Over 400 lines on purpose: one bot process serves every admin case (starting one takes seconds).
// The bot runs with DISABLE_TASK_RESUME=true so seeded rows stay unfinished until a test says otherwise.

jest.setTimeout(180_000);

const MAIN = WORLD.guilds.main;
const OTHER = WORLD.guilds.other;
const ADMIN = WORLD.users.admin.id;
const OWNER = WORLD.users.owner.id; // Manage Server through ownership: a second admin of the main guild
const OTHER_ADMIN = WORLD.users.otherAdmin.id;
const MEMBER = WORLD.users.member.id;
const MEMBER2 = WORLD.users.member2.id;
const MODEL = 'veo-3.1-fast-generate-001';

type Status = 'pending' | 'generating' | 'completed' | 'failed' | 'timeout';

interface Seed {
  guild?: 'main' | 'other';
  userId?: string;
  channelId?: string;
  prompt: string;
  status?: Status;
  ageHours?: number;
  durationSeconds?: 4 | 6 | 8;
  operationName?: string;
  /** undefined: no lease; otherwise who holds it and whether it is still live */
  lease?: { owner: string; live: boolean };
  announcement?: 'due' | 'sent' | null;
  attempts?: number;
}

describe('/resume (real bot, emulated Discord and Google, real PostgreSQL)', () => {
  let world: E2EWorld;

  const sql = (query: string, params: unknown[] = []) =>
    world.db.database.dataSource.query(query, params) as Promise<any[]>;

  async function seed(s: Seed): Promise<string> {
    const guild = s.guild === 'other' ? OTHER : MAIN;
    const { row } = await world.tracking.requests.createRequest(
      {
        userId: s.userId ?? MEMBER,
        guildId: guild.id,
        channelId: s.channelId ?? guild.channels.general.id,
        prompt: s.prompt,
        durationSeconds: s.durationSeconds ?? 8,
        aspectRatio: '16:9',
        model: MODEL,
      },
      'seed',
      60_000,
    );
    await sql(
      `UPDATE video_requests SET status = $2, created_at = now() - $3::double precision * interval '1 hour',
         operation_name = $4, lease_owner = $5,
         lease_expires_at = CASE WHEN $5::text IS NULL THEN NULL WHEN $6::boolean THEN now() + interval '1 hour' ELSE now() - interval '1 minute' END,
         announcement = $7, completed_at = CASE WHEN $2 IN ('completed', 'failed', 'timeout') THEN now() ELSE NULL END
       WHERE id = $1`,
      [
        row.id,
        s.status ?? 'pending',
        s.ageHours ?? 1,
        s.operationName ?? null,
        s.lease?.owner ?? null,
        s.lease?.live ?? false,
        s.announcement ?? null,
      ],
    );
    for (let i = 1; i <= (s.attempts ?? 0); i++) {
      await sql(
        `INSERT INTO video_request_attempts (request_id, attempt, output_prefix, state, operation_name) VALUES ($1, $2, $3, 'accepted', $4)`,
        [row.id, i, `${guild.id}/x/${row.id}/${i}/`, s.operationName ?? null],
      );
    }
    return row.id;
  }

  async function clearRequests(): Promise<void> {
    await sql('DELETE FROM video_request_attempts');
    await sql('DELETE FROM video_requests');
  }

  const statusOf = async (id: string) => (await world.tracking.requests.getById(id))!;

  function resume(
    subcommand: string,
    options: Record<string, string | number | boolean> = {},
    userId = ADMIN,
    guild: 'main' | 'other' = 'main',
  ): InteractionHandle {
    const g = guild === 'other' ? OTHER : MAIN;
    return world.discord.pushInteraction({
      name: 'resume',
      subcommand,
      options,
      userId,
      guildId: g.id,
      channelId: g.channels.general.id,
    });
  }

  const press = (message: EmulatedMessage, customId: string, userId = ADMIN) =>
    world.discord.pushComponent({ message, customId, userId });
  /** The new message a button press was answered with (not an update of the message the button is on). */
  const answerTo = (handle: InteractionHandle): Promise<EmulatedMessage> =>
    world.discord.waitFor(
      () => {
        const id = handle.interaction.originalMessageId;
        return id ? world.discord.message(id) : undefined;
      },
      10_000,
      'the answer to a button press',
    );

  function buttons(message: EmulatedMessage): { id: string; label: string; disabled: boolean }[] {
    return message.components.flatMap((row: any) =>
      row.components.map((b: any) => ({ id: b.custom_id, label: b.label, disabled: !!b.disabled })),
    );
  }

  const button = (message: EmulatedMessage, label: RegExp) => buttons(message).find((b) => label.test(b.label))!;
  const field = (embed: any, name: string) =>
    embed.fields.find((f: any) => f.name === name)?.value as string | undefined;
  /** The requester notifications the bot posted in a channel (they start with the requester's mention). */
  const notices = (channelId: string) => world.channelMessages(channelId).filter((m) => m.content.startsWith('<@'));

  beforeAll(async () => {
    world = await E2EWorld.start();
    await world.startBot({ DISABLE_TASK_RESUME: 'true', RESUME_MAX_AGE_HOURS: '24', RESUME_CONCURRENCY: '2' });
  });
  afterAll(async () => world?.close());
  beforeEach(async () => {
    await clearRequests();
    world.discord.reset();
  });

  it('registers /resume for guilds only, shown by default to members with Manage Server', () => {
    const cmd = world.discord.commands.global.find((c) => c.name === 'resume');
    expect(cmd).toBeDefined();
    expect(cmd.default_member_permissions).toBe(PermissionFlagsBits.ManageGuild.toString());
    expect(cmd.contexts).toEqual([0]); // InteractionContextType.Guild only
    expect(cmd.options.map((o: any) => o.name).sort()).toEqual(['expire', 'run', 'status']);
    const expire = cmd.options.find((o: any) => o.name === 'expire');
    expect(expire.options.map((o: any) => o.name).sort()).toEqual([
      'include_generating',
      'older_than_hours',
      'request',
    ]);
    expect(expire.options.find((o: any) => o.name === 'request').autocomplete).toBe(true);
  });

  it('refuses a plain member ephemerally, for every subcommand, its buttons and its autocomplete', async () => {
    const id = await seed({ prompt: 'a member cannot expire me' });
    for (const sub of ['status', 'run', 'expire']) {
      const handle = resume(sub, {}, MEMBER);
      const reply = await handle.waitForReply(() => true, 10_000);
      expect(reply.ephemeral).toBe(true);
      expect(reply.content).toMatch(/Manage Server/);
      expect(reply.embeds).toHaveLength(0);
    }
    // A member replaying an admin's button custom id is refused as well.
    const status = await resume('status').waitForReply((m) => !m.loading && m.embeds.length > 0, 10_000);
    const refused = await answerTo(press(status, button(status, /Refresh/).id, MEMBER));
    expect(refused.ephemeral).toBe(true);
    expect(refused.content).toMatch(/Manage Server/);
    const ac = world.discord.pushAutocomplete({
      name: 'resume',
      subcommand: 'expire',
      options: { request: '' },
      focused: 'request',
      userId: MEMBER,
    });
    await ac.waitForAck(10_000);
    expect(ac.autocompleteChoices()).toEqual([]);
    expect((await statusOf(id)).status).toBe('pending');
  });

  it('status: counts, oldest rows with age, silent mention, prompt, attempts, operation, lease holder; nothing of the other guild', async () => {
    const op = `projects/p/locations/us-central1/publishers/google/models/${MODEL}/operations/abcdef12-3456-7890-abcd-ef1234567890`;
    const oldest = await seed({ prompt: 'the oldest pending request', ageHours: 5, durationSeconds: 4 });
    const held = await seed({
      prompt: 'a generating one held elsewhere',
      status: 'generating',
      ageHours: 3,
      operationName: op,
      lease: { owner: 'instance-b', live: true },
      attempts: 2,
      userId: MEMBER2,
    });
    const stale = await seed({
      prompt: 'lease of a dead instance',
      ageHours: 2,
      lease: { owner: 'instance-dead', live: false },
      durationSeconds: 6,
    });
    const due = await seed({
      prompt: 'finished but not yet told',
      status: 'completed',
      announcement: 'due',
      ageHours: 1,
    });
    const failedToday = await seed({ prompt: 'failed today', status: 'failed', announcement: 'sent' });
    const googleText = 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model';
    await sql(`UPDATE video_requests SET error_message = $2, failure_kind = 'google' WHERE id = $1`, [
      failedToday,
      `Veo failed: ${googleText}`,
    ]);
    await seed({ prompt: 'timed out today', status: 'timeout', announcement: 'sent' });
    await seed({ prompt: 'timed out too', status: 'timeout', announcement: 'sent' });
    await seed({ prompt: 'long done', status: 'completed', announcement: 'sent' });
    const foreign = await seed({ guild: 'other', prompt: 'SECRET of the other guild', ageHours: 10, userId: MEMBER });

    const handle = resume('status');
    expect(await handle.waitForAck(5_000)).toBe(5);
    const reply = await handle.waitForReply((m) => !m.loading && m.embeds.length > 0, 10_000);
    expect(reply.ephemeral).toBe(true);
    const embed = reply.embeds[0];
    expect(field(embed, 'Pending')).toBe('2');
    expect(field(embed, 'Generating')).toBe('1');
    expect(field(embed, 'Waiting to be announced')).toBe('1');
    expect(field(embed, 'Failed (24 h)')).toBe('1');
    expect(field(embed, 'Timed out (24 h)')).toBe('2');
    expect(field(embed, 'Video-seconds at risk')).toBe('18 s'); // 4 + 8 + 6
    expect(embed.description).toMatch(/Automatic resume is disabled/);

    const lines: string[] = embed.description.split('\n').filter((l: string) => l.startsWith('`'));
    expect(lines.map((l) => l.slice(1, 9))).toEqual([oldest, held, stale, due].map((id) => id.slice(0, 8))); // oldest first
    expect(lines[0]).toMatch(/5h 00m ago/);
    expect(lines[0]).toContain(`<@${MEMBER}>`);
    expect(lines[0]).toContain('the oldest pending request');
    expect(lines[0]).toMatch(/· free$/);
    expect(lines[1]).toContain(`<@${MEMBER2}>`);
    expect(lines[1]).toMatch(/2 attempt\(s\)/);
    expect(lines[1]).toContain('op …abcdef12');
    // Who holds a request, without naming hosts or processes: this bot, or another instance and whether it answers.
    expect(lines[1]).toMatch(/· another instance \(alive\)$/);
    expect(lines[2]).toMatch(/· another instance \(not responding\)$/);
    expect(JSON.stringify(reply.raw)).not.toMatch(/instance-b|instance-dead/);
    // Google's own words, kept from the requester, are shown to the admin (this reply is private to them).
    expect(field(embed, 'Latest failures (what Google or the bot said)')).toContain(
      `\`${failedToday.slice(0, 8)}\` failed`,
    );
    expect(field(embed, 'Latest failures (what Google or the bot said)')).toContain(googleText.replace(/_/g, '\\_'));
    expect(lines[3]).toMatch(/completed, announcement due/);

    // Nothing of the other guild: not its row, not its prompt, not its count.
    const everything = JSON.stringify(reply.raw);
    expect(everything).not.toContain(foreign.slice(0, 8));
    expect(everything).not.toContain('SECRET');
    expect(embed.footer.text).toMatch(/4 unfinished/);
    // The requesters are shown as mentions, but nobody is notified.
    expect(reply.pinged).toEqual({ users: [], roles: [], everyone: false });
    expect(reply.editLog.every((e) => e.pinged.users.length === 0)).toBe(true);
    const edit = world.discord.calls.find((c) => c.method === 'PATCH' && c.path.includes(handle.token));
    expect(edit?.body.allowed_mentions).toEqual({ parse: [] });

    // The other guild's admin sees only the other guild.
    const other = await resume('status', {}, OTHER_ADMIN, 'other').waitForReply(
      (m) => !m.loading && m.embeds.length > 0,
      10_000,
    );
    expect(field(other.embeds[0], 'Pending')).toBe('1');
    expect(field(other.embeds[0], 'Generating')).toBe('0');
    expect(other.embeds[0].description).toContain(foreign.slice(0, 8));
    for (const id of [oldest, held, stale, due]) expect(JSON.stringify(other.raw)).not.toContain(id.slice(0, 8));
  });

  it('status: pages beyond ten rows and refreshes in place', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await seed({ prompt: `queued number ${i}`, ageHours: 20 - i }));
    const first = await resume('status').waitForReply((m) => !m.loading && m.embeds.length > 0, 10_000);
    const rowsOf = (m: EmulatedMessage) =>
      m.embeds[0].description
        .split('\n')
        .filter((l: string) => l.startsWith('`'))
        .map((l: string) => l.slice(1, 9));
    expect(rowsOf(first)).toEqual(ids.slice(0, 10).map((id) => id.slice(0, 8)));
    expect(first.embeds[0].footer.text).toMatch(/Page 1 of 2 · 12 unfinished/);
    expect(button(first, /Newer/).disabled).toBe(true);
    expect(button(first, /Older/).disabled).toBe(false);

    const next = press(first, button(first, /Older/).id);
    expect(await next.waitForAck(5_000)).toBe(6); // deferUpdate: the same message is edited
    const page2 = await world.discord.waitFor(
      () => {
        const m = world.discord.message(first.id);
        return m && /Page 2 of 2/.test(m.embeds[0]?.footer?.text ?? '') ? m : undefined;
      },
      10_000,
      'page 2',
    );
    expect(rowsOf(page2)).toEqual(ids.slice(10).map((id) => id.slice(0, 8)));
    expect(button(page2, /Older/).disabled).toBe(true);

    // Refresh shows what changed meanwhile.
    await sql(`UPDATE video_requests SET status = 'completed', announcement = 'sent' WHERE id = $1`, [ids[11]]);
    await press(page2, button(page2, /Refresh/).id).waitForAck(5_000);
    const refreshed = await world.discord.waitFor(
      () => {
        const m = world.discord.message(first.id);
        return m && /11 unfinished/.test(m.embeds[0]?.footer?.text ?? '') ? m : undefined;
      },
      10_000,
      'refreshed status',
    );
    expect(rowsOf(refreshed)).toEqual([ids[10]!.slice(0, 8)]);
    expect(field(refreshed.embeds[0], 'Pending')).toBe('11');

    // The page it was on is gone: refresh falls back to the last page that exists, with its rows.
    await sql(`UPDATE video_requests SET status = 'completed', announcement = 'sent' WHERE id = $1`, [ids[10]]);
    await press(refreshed, button(refreshed, /Refresh/).id).waitForAck(5_000);
    const shrunk = await world.discord.waitFor(
      () => {
        const m = world.discord.message(first.id);
        return m && /10 unfinished/.test(m.embeds[0]?.footer?.text ?? '') ? m : undefined;
      },
      10_000,
      'status after the page emptied',
    );
    expect(shrunk.embeds[0].footer.text).toMatch(/Page 1 of 1/);
    expect(rowsOf(shrunk)).toEqual(ids.slice(0, 10).map((id) => id.slice(0, 8)));
    expect(button(shrunk, /Older/).disabled).toBe(true);
  });

  it('run dry_run: lists what would happen and the video-seconds it would spend, changing nothing', async () => {
    const pending = await seed({ prompt: 'would be submitted', durationSeconds: 6, ageHours: 2 });
    const generating = await seed({
      prompt: 'would be polled',
      status: 'generating',
      operationName: 'operations/x',
      ageHours: 3,
    });
    const live = await seed({ prompt: 'someone has it', lease: { owner: 'instance-b', live: true }, ageHours: 4 });
    const stale = await seed({ prompt: 'too old', ageHours: 30 });
    await seed({ guild: 'other', prompt: 'other guild pending', durationSeconds: 8 });

    const reply = await resume('run', { dry_run: true }).waitForReply((m) => m.embeds.length > 0, 10_000);
    expect(reply.ephemeral).toBe(true);
    const text = reply.embeds[0].description as string;
    const lineOf = (id: string) => text.split('\n').find((l) => l.includes(id.slice(0, 8)))!;
    expect(lineOf(pending)).toMatch(/submit to Veo again \(6 s billed\)/);
    expect(lineOf(generating)).toMatch(/check the running Veo operation/);
    expect(lineOf(live)).toMatch(/skip: being worked on/);
    expect(lineOf(stale)).toMatch(/expire \(older than 24 h\)/);
    expect(text.split('\n')).toHaveLength(4); // nothing of the other guild
    expect(field(reply.embeds[0], 'Video-seconds it would spend')).toMatch(/^6 s/);
    expect(world.google.submits).toHaveLength(0);
    for (const id of [pending, generating, live, stale])
      expect((await statusOf(id)).status).toMatch(/pending|generating/);
  });

  it('run: resumes only this guild’s free requests with a live progress embed edited at most every 2 s', async () => {
    world.google.fateForPrompt('slowly', { kind: 'done', afterPolls: 50, videoBytes: 32 * 1024 });
    world.google.fateForPrompt('doomed', { kind: 'failed', code: 13, message: 'internal error' });
    const slow = await seed({ prompt: 'a cat surfing slowly', userId: MEMBER, ageHours: 3 });
    const quick = await seed({
      prompt: 'a quick dog',
      userId: MEMBER2,
      channelId: MAIN.channels.videos.id,
      ageHours: 2,
      durationSeconds: 4,
    });
    const doomed = await seed({ prompt: 'a doomed request', ageHours: 2 });
    const lost = await seed({
      prompt: 'operation lost at Google',
      status: 'generating',
      operationName: 'operations/gone',
      ageHours: 1,
    });
    const held = await seed({
      prompt: 'held by a live instance',
      lease: { owner: 'instance-b', live: true },
      ageHours: 4,
    });
    const foreign = await seed({ guild: 'other', prompt: 'other guild must wait' });

    const handle = resume('run');
    expect(await handle.waitForAck(5_000)).toBe(5);
    const done = await handle.waitForReply((m) => m.embeds[0]?.title === 'Resume finished', 120_000);
    expect(done.ephemeral).toBe(false);
    const embed = done.embeds[0];
    expect(field(embed, 'Found')).toBe('5'); // four free ones plus the held one, which is left alone
    expect(field(embed, 'Completed')).toBe('2');
    expect(field(embed, 'Failed')).toBe('1');
    expect(field(embed, 'Timed out')).toBe('1');
    expect(field(embed, 'Running')).toBe('0');
    expect(embed.description).toContain(`\`${slow.slice(0, 8)}\` ✅ completed`);
    expect(embed.description).toContain(`\`${quick.slice(0, 8)}\` ✅ completed`);
    expect(embed.description).toContain(`\`${doomed.slice(0, 8)}\` ❌ failed`);
    expect(embed.description).toContain(`\`${lost.slice(0, 8)}\` ⌛ timed out`);
    expect(embed.description).not.toContain(held.slice(0, 8));
    expect(embed.description).not.toContain(foreign.slice(0, 8));

    // Live: several edits, never two within 2 s (emulator arrival times; a little slack for the transport).
    expect(done.editLog.length).toBeGreaterThanOrEqual(3);
    const gaps = done.editLog.slice(1).map((e, i) => e.at - done.editLog[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1_900);
    expect(done.pinged.users).toEqual([]);

    expect((await statusOf(slow)).status).toBe('completed');
    expect((await statusOf(quick)).status).toBe('completed');
    expect((await statusOf(doomed)).status).toBe('failed');
    expect((await statusOf(lost)).status).toBe('timeout');
    expect((await statusOf(held)).status).toBe('pending');
    expect((await statusOf(foreign)).status).toBe('pending');
    expect(world.google.submits.map((s) => s.instance.prompt).sort()).toEqual([
      'a cat surfing slowly',
      'a doomed request',
      'a quick dog',
    ]);
    // Each requester told once, in their own channel.
    const inVideos = notices(MAIN.channels.videos.id);
    expect(inVideos).toHaveLength(1);
    expect(inVideos[0]!.pinged.users).toEqual([MEMBER2]);
    expect(notices(OTHER.channels.general.id)).toHaveLength(0);
  });

  it('run: one at a time per server; a second run is told who started the first and when, and starts nothing', async () => {
    world.google.fateForPrompt('takes a while', { kind: 'done', afterPolls: 30, videoBytes: 32 * 1024 });
    const id = await seed({ prompt: 'a sailboat that takes a while', ageHours: 1 });
    const first = resume('run');
    expect(await first.waitForAck(5_000)).toBe(5);
    await world.waitForRow((rows) => rows.some((r) => r.id === id && r.status === 'generating'), MEMBER, 30_000);

    const second = resume('run');
    expect(await second.waitForAck(5_000)).toBe(4); // answered at once, privately
    const refusal = await second.waitForReply((m) => m.content.length > 0, 10_000);
    expect(refusal.ephemeral).toBe(true);
    expect(refusal.content).toMatch(new RegExp(`already going: <@${ADMIN}> started it <t:\\d+:R>`));
    expect(refusal.pinged).toEqual({ users: [], roles: [], everyone: false });

    await first.waitForReply((m) => m.embeds[0]?.title === 'Resume finished', 120_000);
    expect(world.google.submits.filter((s) => s.instance.prompt === 'a sailboat that takes a while')).toHaveLength(1);
    // Once the first run ended, a new one may start.
    const third = resume('run');
    await third.waitForReply((m) => m.embeds[0]?.title === 'Resume finished', 60_000);
  });

  it('run: continues in a channel message when it outlives the interaction token', async () => {
    world.google.fateForPrompt('very slowly', { kind: 'done', afterPolls: 60, videoBytes: 32 * 1024 });
    const id = await seed({ prompt: 'a glacier moving very slowly', ageHours: 1 });
    world.discord.tokenLifetimeMs = 4_000;
    try {
      const handle = resume('run');
      await handle.waitForAck(5_000);
      const channelProgress = await world.discord.waitFor(
        () => world.channelMessages(MAIN.channels.general.id).find((m) => m.embeds[0]?.title === 'Resume finished'),
        120_000,
        'the final progress in a channel message',
      );
      expect(channelProgress.embeds[0].description).toContain(`\`${id.slice(0, 8)}\` ✅ completed`);
      expect(channelProgress.pinged).toEqual({ users: [], roles: [], everyone: false });
      expect(channelProgress.edits).toBeGreaterThanOrEqual(1); // still live after the switch
      expect(handle.original()!.edits).toBeGreaterThanOrEqual(1); // live in the reply until the token died
      // Exactly one progress message was posted in the channel; later states edited it.
      expect(
        world.channelMessages(MAIN.channels.general.id).filter((m) => /Resum/.test(m.embeds[0]?.title ?? '')),
      ).toHaveLength(1);
      expect((await statusOf(id)).status).toBe('completed');
    } finally {
      world.discord.tokenLifetimeMs = 15 * 60_000;
    }
  });

  it('autocomplete of expire’s request option lists this guild’s expirable requests only', async () => {
    const mine = await seed({ prompt: 'mine to pick', ageHours: 50 });
    // Newer finished rows cannot be expired: they must not crowd the stuck one out of the list.
    const finished: string[] = [];
    for (let i = 0; i < 30; i++)
      finished.push(await seed({ prompt: `done ${i}`, status: 'completed', announcement: 'sent', ageHours: 1 }));
    const foreign = await seed({ guild: 'other', prompt: 'not yours' });
    const ac = world.discord.pushAutocomplete({
      name: 'resume',
      subcommand: 'expire',
      options: { request: '' },
      focused: 'request',
      userId: ADMIN,
    });
    expect(await ac.waitForAck(10_000)).toBe(8);
    const choices = ac.autocompleteChoices() as { name: string; value: string }[];
    expect(choices.map((c) => c.value)).toEqual([mine]);
    expect(choices[0]!.name).toContain('mine to pick');
    const byPrefix = world.discord.pushAutocomplete({
      name: 'resume',
      subcommand: 'expire',
      options: { request: finished[0]!.slice(0, 8) },
      focused: 'request',
      userId: ADMIN,
    });
    await byPrefix.waitForAck(10_000);
    expect(byPrefix.autocompleteChoices()).toEqual([]);
    const typed = world.discord.pushAutocomplete({
      name: 'resume',
      subcommand: 'expire',
      options: { request: foreign.slice(0, 6) },
      focused: 'request',
      userId: ADMIN,
    });
    await typed.waitForAck(10_000);
    expect(typed.autocompleteChoices()).toEqual([]);
    const otherAc = world.discord.pushAutocomplete({
      name: 'resume',
      subcommand: 'expire',
      guildId: OTHER.id,
      channelId: OTHER.channels.general.id,
      options: { request: '' },
      focused: 'request',
      userId: OTHER_ADMIN,
    });
    await otherAc.waitForAck(10_000);
    expect((otherAc.autocompleteChoices() as { value: string }[]).map((c) => c.value)).toEqual([foreign]);
  });

  it('expire: counts, asks the invoking admin to confirm, expires, tells each requester once; twice changes nothing more', async () => {
    const a = await seed({ prompt: 'old pending of bob', userId: MEMBER, ageHours: 30 });
    const b = await seed({
      prompt: 'old pending of carol',
      userId: MEMBER2,
      channelId: MAIN.channels.videos.id,
      ageHours: 48,
    });
    const young = await seed({ prompt: 'young pending', ageHours: 2 });
    const gen = await seed({
      prompt: 'old generating',
      status: 'generating',
      operationName: 'operations/x',
      ageHours: 30,
    });
    const foreign = await seed({ guild: 'other', prompt: 'old pending elsewhere', ageHours: 40 });

    const ask = await resume('expire').waitForReply(() => true, 10_000);
    expect(ask.ephemeral).toBe(true);
    expect(ask.content).toMatch(/2 request\(s\) older than 24 h \(pending only\)/);
    const confirm = button(ask, /Expire/);
    expect(button(ask, /Cancel/)).toBeDefined();

    // Another admin of the same guild cannot press it.
    const intruder = await answerTo(press(ask, confirm.id, OWNER));
    expect(intruder.ephemeral).toBe(true);
    expect(intruder.content).toMatch(/Only the admin who ran/);
    expect((await statusOf(a)).status).toBe('pending');

    const pressed = press(ask, confirm.id);
    expect(await pressed.waitForAck(5_000)).toBe(7);
    const answered = await world.discord.waitFor(
      () => {
        const m = world.discord.message(ask.id);
        return m && /Expired 2 request/.test(m.content) ? m : undefined;
      },
      10_000,
      'the expiry answer',
    );
    expect(answered.components).toEqual([]);

    for (const id of [a, b]) {
      const row = await statusOf(id);
      expect(row).toMatchObject({
        status: 'timeout',
        errorMessage: 'Expired by a server admin',
        expiredBy: ADMIN,
        failureKind: 'admin',
      });
    }
    for (const id of [young, foreign]) expect((await statusOf(id)).status).toBe('pending');
    expect((await statusOf(gen)).status).toBe('generating');

    // Each requester is told once, in the channel of the request, and only they are pinged.
    await world.waitForRow((rows) => rows.every((r) => r.status !== 'timeout' || r.announcement === 'sent'), MEMBER);
    await world.waitForRow((rows) => rows.every((r) => r.announcement === 'sent'), MEMBER2);
    const general = notices(MAIN.channels.general.id);
    const videos = notices(MAIN.channels.videos.id);
    expect(general).toHaveLength(1);
    expect(general[0]!.pinged).toEqual({ users: [MEMBER], roles: [], everyone: false });
    expect(general[0]!.content).toMatch(/timed out/);
    expect(videos).toHaveLength(1);
    expect(videos[0]!.pinged).toEqual({ users: [MEMBER2], roles: [], everyone: false });
    expect(notices(OTHER.channels.general.id)).toHaveLength(0);

    // The same again: nothing matches any more, nothing changes, nobody is told twice.
    const before = await sql('SELECT id, status, fence, updated_at, announcement FROM video_requests ORDER BY id');
    const again = await resume('expire').waitForReply(() => true, 10_000);
    expect(again.content).toMatch(/nothing would change/);
    expect(again.components ?? []).toEqual([]);
    // The used confirmation is gone from the message, so it cannot be pressed again (Discord refuses presses of
    // components a message no longer has: COMPONENT_VALIDATION_FAILED, discord-api-docs#5943).
    expect(world.discord.message(ask.id)!.components).toEqual([]);
    expect(() => press(ask, confirm.id)).toThrow(/has no component/);
    expect(await sql('SELECT id, status, fence, updated_at, announcement FROM video_requests ORDER BY id')).toEqual(
      before,
    );
    expect(notices(MAIN.channels.general.id)).toHaveLength(1);
    expect(notices(MAIN.channels.videos.id)).toHaveLength(1);
  });

  it('expire options: older_than_hours, include_generating, a single request; cancel changes nothing', async () => {
    const p = await seed({ prompt: 'three hours pending', ageHours: 3 });
    const g = await seed({
      prompt: 'three hours generating',
      status: 'generating',
      operationName: 'operations/x',
      ageHours: 3,
    });
    const single = await seed({ prompt: 'just this one', ageHours: 0.1, userId: MEMBER2 });
    const foreign = await seed({ guild: 'other', prompt: 'not here', ageHours: 3 });

    // Cancel first.
    const ask1 = await resume('expire', { older_than_hours: 2, include_generating: true }).waitForReply(
      () => true,
      10_000,
    );
    expect(ask1.content).toMatch(/2 request\(s\) older than 2 h, including ones Veo is still working on/);
    await press(ask1, button(ask1, /Cancel/).id).waitForAck(5_000);
    await world.discord.waitFor(
      () => /Cancelled/.test(world.discord.message(ask1.id)?.content ?? ''),
      10_000,
      'cancelled',
    );
    expect((await statusOf(p)).status).toBe('pending');
    expect((await statusOf(g)).status).toBe('generating');

    const ask2 = await resume('expire', { older_than_hours: 2, include_generating: true }).waitForReply(
      () => true,
      10_000,
    );
    await press(ask2, button(ask2, /Expire/).id).waitForAck(5_000);
    await world.discord.waitFor(
      () => /Expired 2 request/.test(world.discord.message(ask2.id)?.content ?? ''),
      10_000,
      'expired 2',
    );
    expect((await statusOf(p)).status).toBe('timeout');
    expect((await statusOf(g)).status).toBe('timeout');
    expect((await statusOf(single)).status).toBe('pending');

    // A single request by id, whatever its age; another guild's id is never found.
    const wrong = await resume('expire', { request: foreign }).waitForReply(() => true, 10_000);
    expect(wrong.content).toMatch(/nothing would change/);
    const ask3 = await resume('expire', { request: single }).waitForReply(() => true, 10_000);
    expect(ask3.content).toContain(single);
    await press(ask3, button(ask3, /Expire/).id).waitForAck(5_000);
    await world.discord.waitFor(
      () => /Expired 1 request/.test(world.discord.message(ask3.id)?.content ?? ''),
      10_000,
      'expired 1',
    );
    expect(await statusOf(single)).toMatchObject({ status: 'timeout', expiredBy: ADMIN });
    expect((await statusOf(foreign)).status).toBe('pending');
    await world.waitForRow((rows) => rows.every((r) => r.announcement === 'sent'), MEMBER2);
    expect(notices(MAIN.channels.general.id).filter((m) => m.pinged.users.includes(MEMBER2))).toHaveLength(1);
  });

  it('the bot logged no error while serving all of the above', () => {
    const errors = world.bots[0]!.logs.filter((l) => l.level >= 50);
    expect(errors.map((l) => l.msg)).toEqual([]);
    // Progress updates never failed: the token switch was taken, not hit.
    expect(world.bots[0]!.logs.filter((l) => l.msg === 'could not update the /resume run progress')).toEqual([]);
  });

  it('expire: a confirmation older than a minute says so and expires nothing', async () => {
    const id = await seed({ prompt: 'survives a late click', ageHours: 30 });
    const ask = await resume('expire').waitForReply(() => true, 10_000);
    await new Promise((r) => setTimeout(r, 61_000));
    const late = await answerTo(press(ask, button(ask, /Expire/).id));
    expect(late.ephemeral).toBe(true);
    expect(late.content).toMatch(/confirmation has expired/);
    expect((await statusOf(id)).status).toBe('pending');
    expect(notices(MAIN.channels.general.id)).toHaveLength(0);
  });
});
