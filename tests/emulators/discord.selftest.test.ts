// Self-test of the Discord emulator, driven by the real discord.js client and a real SapphireClient.
import { LogLevel, SapphireClient, container } from '@sapphire/framework';
import { Subcommand } from '@sapphire/plugin-subcommands';
import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  Routes,
  type ClientOptions,
  type TextChannel,
} from 'discord.js';
import { DiscordEmulator, OffsetClock, WORLD } from './discord';

const MAIN = WORLD.guilds.main;
const held: Subcommand.ChatInputCommandInteraction[] = [];
const seen: { prompt: string; count: number | null; channelId: string; userId: string }[] = [];

class JobCommand extends Subcommand {
  constructor(context: Subcommand.LoaderContext, options: Subcommand.Options) {
    super(context, {
      ...options,
      name: 'job',
      description: 'jobs',
      subcommands: [
        { name: 'start', chatInputRun: 'start' },
        { name: 'hold', chatInputRun: 'hold' },
      ],
    });
  }

  override registerApplicationCommands(registry: Subcommand.Registry) {
    registry.registerChatInputCommand(
      (b) =>
        b
          .setName('job')
          .setDescription('jobs')
          .addSubcommand((s) =>
            s
              .setName('start')
              .setDescription('start a job')
              .addStringOption((o) =>
                o.setName('prompt').setDescription('prompt').setRequired(true).setAutocomplete(true),
              )
              .addIntegerOption((o) => o.setName('count').setDescription('count')),
          )
          .addSubcommand((s) => s.setName('hold').setDescription('leave the interaction to the test')),
      { guildIds: [MAIN.id] },
    );
  }

  async start(interaction: Subcommand.ChatInputCommandInteraction) {
    const prompt = interaction.options.getString('prompt', true);
    const count = interaction.options.getInteger('count');
    seen.push({ prompt, count, channelId: interaction.channelId, userId: interaction.user.id });
    await interaction.deferReply();
    const button = new ButtonBuilder().setCustomId('job:cancel').setLabel('Cancel').setStyle(ButtonStyle.Danger);
    await interaction.editReply({
      content: `started ${prompt} x${count ?? 1} <@${interaction.user.id}>`,
      components: [new ActionRowBuilder<ButtonBuilder>().addComponents(button)],
    });
    await interaction.followUp({
      content: `<@${interaction.user.id}> done @everyone`,
      allowedMentions: { parse: [], users: [interaction.user.id] },
    });
  }

  async hold(interaction: Subcommand.ChatInputCommandInteraction) {
    held.push(interaction);
  }

  override async autocompleteRun(interaction: Subcommand.AutocompleteInteraction) {
    const typed = String(interaction.options.getFocused());
    await interaction.respond([{ name: `${typed} at sunset`, value: `${typed} sunset` }]);
  }
}

// Other packages may augment ClientOptions with required keys (e.g. scheduled tasks); these tests need none of them.
const clientOptions = (o: Partial<ClientOptions>) => o as ClientOptions;
const apiError = (code: number, status: number) =>
  expect.objectContaining({ name: expect.stringContaining('DiscordAPIError'), code, status });

describe('Discord emulator with discord.js + Sapphire', () => {
  let emulator: DiscordEmulator;
  let client: SapphireClient;
  const clock = new OffsetClock();
  const channel = (id: string) => client.channels.cache.get(id) as TextChannel;
  const nextHeld = async () => {
    const n = held.length;
    await emulator.waitFor(() => held.length > n, 5_000, 'held interaction');
    return held[n];
  };

  beforeAll(async () => {
    emulator = await DiscordEmulator.start({ clock });
    await container.stores.loadPiece({ store: 'commands', name: 'job', piece: JobCommand });
    client = new SapphireClient(
      clientOptions({
        intents: [GatewayIntentBits.Guilds],
        baseUserDirectory: null,
        allowedMentions: { parse: [] },
        logger: { level: LogLevel.Error },
        loadMessageCommandListeners: false,
        rest: { api: emulator.apiUrl, cdn: emulator.cdnUrl, retries: 1, timeout: 5_000 },
      }),
    );
    const ready = new Promise((resolve) => client.once(Events.ClientReady, resolve));
    await client.login(emulator.token);
    await ready;
    await emulator.waitFor(() => emulator.commands.guild(MAIN.id).length === 1, 10_000, 'command registration');
  });

  afterAll(async () => {
    await client?.destroy();
    await emulator?.close();
  });

  beforeEach(() => emulator.reset());

  test('READY, guild caches and permissions, command registration', () => {
    const s = emulator.sessions[0];
    expect(s).toMatchObject({ ready: true, connected: true, resumes: 0 });
    expect(s.readyAt).toBeGreaterThanOrEqual(s.identifyAt);
    expect(client.user?.id).toBe(WORLD.botUserId);
    expect(client.application?.id).toBe(WORLD.applicationId);
    expect(client.guilds.cache.map((g) => g.id).sort()).toEqual([MAIN.id, WORLD.guilds.other.id].sort());
    const me = client.guilds.cache.get(MAIN.id)!.members.me!;
    expect(channel(MAIN.channels.general.id).permissionsFor(me).has('SendMessages')).toBe(true);
    expect(channel(MAIN.channels.locked.id).permissionsFor(me).has('SendMessages')).toBe(false);
    expect(channel(MAIN.channels.hidden.id).permissionsFor(me).has('ViewChannel')).toBe(false);
    const [cmd] = emulator.commands.guild(MAIN.id);
    expect(cmd).toMatchObject({ name: 'job', guild_id: MAIN.id, application_id: WORLD.applicationId });
    expect(cmd.id).toMatch(/^\d{17,19}$/);
  });

  test('slash command with subcommand + options: defer, editReply, followUp, pings; button and autocomplete', async () => {
    const h = emulator.pushInteraction({
      name: 'job',
      subcommand: 'start',
      options: { prompt: 'a cat', count: 2 },
      userId: WORLD.users.admin.id,
      channelId: MAIN.channels.videos.id,
    });
    expect(h.interaction.payload.data.options[0].options).toEqual([
      { name: 'prompt', type: 3, value: 'a cat' },
      { name: 'count', type: 4, value: 2 },
    ]);
    expect(BigInt(h.interaction.payload.member.permissions) & 0x20n).toBe(0x20n); // ManageGuild via the admins role
    expect(await h.waitForAck()).toBe(5);
    const follow = await emulator.waitFor(() => h.followUps()[0], 5_000, 'follow-up');
    expect(seen.at(-1)).toEqual({
      prompt: 'a cat',
      count: 2,
      channelId: MAIN.channels.videos.id,
      userId: WORLD.users.admin.id,
    });
    const original = h.original()!;
    expect(original).toMatchObject({
      content: `started a cat x2 <@${WORLD.users.admin.id}>`,
      edits: 1,
      loading: false,
      kind: 'original',
    });
    expect(original.pinged).toEqual({ users: [], roles: [], everyone: false }); // a deferred reply pings nobody
    expect(original.editLog[0].pinged).toEqual({ users: [], roles: [], everyone: false }); // edits never ping
    expect(follow.pinged).toEqual({ users: [WORLD.users.admin.id], roles: [], everyone: false });
    expect(follow.raw).toMatchObject({ webhook_id: WORLD.applicationId, application_id: WORLD.applicationId });
    expect(emulator.calls.map((c) => `${c.method} ${c.path.replace(/\/\d+\/[^/]+/, '/ID/TOKEN')}`)).toEqual([
      `POST /interactions/ID/TOKEN/callback`,
      `PATCH /webhooks/ID/TOKEN/messages/@original`,
      `POST /webhooks/ID/TOKEN`,
    ]);

    client.once(Events.InteractionCreate, (i) => {
      if (i.isButton()) void i.update({ content: `cancelled by ${i.user.id}`, components: [] });
    });
    const press = emulator.pushComponent({ message: original, customId: 'job:cancel', userId: WORLD.users.admin.id });
    expect(await press.waitForAck()).toBe(7);
    expect(press.original()).toMatchObject({
      id: original.id,
      content: `cancelled by ${WORLD.users.admin.id}`,
      edits: 2,
    });

    const ac = emulator.pushAutocomplete({
      name: 'job',
      subcommand: 'start',
      options: { prompt: 'dog' },
      focused: 'prompt',
    });
    expect(await ac.waitForAck()).toBe(8);
    expect(ac.autocompleteChoices()).toEqual([{ name: 'dog at sunset', value: 'dog sunset' }]);
  });

  test('channel send with embed + file via multipart', async () => {
    const sent = await channel(MAIN.channels.general.id).send({
      content: 'video ready',
      embeds: [{ title: 'Result', image: { url: 'attachment://clip.png' } }],
      files: [{ attachment: Buffer.alloc(1234, 1), name: 'clip.png' }],
    });
    const call = emulator.calls.find((c) => c.method === 'POST' && c.path.endsWith('/messages'))!;
    expect(call.files).toEqual([expect.objectContaining({ name: 'clip.png', size: 1234 })]);
    expect(call.body).toMatchObject({ content: 'video ready', attachments: [expect.objectContaining({ id: '0' })] });
    const [m] = emulator.messages(MAIN.channels.general.id);
    expect(m).toMatchObject({ id: sent.id, kind: 'channel', content: 'video ready' });
    expect(m.attachments[0]).toMatchObject({
      filename: 'clip.png',
      size: 1234,
      url: expect.stringContaining('127.0.0.1'),
    });
    expect(m.embeds[0].image.url).toBe(m.attachments[0].url);
    expect(sent.attachments.first()?.size).toBe(1234);
    const fetched = await channel(MAIN.channels.general.id).messages.fetch({ limit: 5, cache: false });
    expect([...fetched.keys()]).toEqual([sent.id]);
  });

  test('permission and injected errors reach the caller as DiscordAPIError', async () => {
    const general = channel(MAIN.channels.general.id);
    await expect(channel(MAIN.channels.locked.id).send('x')).rejects.toEqual(apiError(50013, 403));
    await expect(channel(MAIN.channels.hidden.id).send('x')).rejects.toEqual(apiError(50001, 403));
    await expect(
      client.rest.post(Routes.channelMessages('1300000000000009999'), { body: { content: 'x' } }),
    ).rejects.toEqual(apiError(10003, 404));
    for (const [status, code] of [
      [403, 50013],
      [403, 50001],
      [404, 10003],
    ]) {
      emulator.injectFault({ method: 'POST', path: /^\/channels\/\d+\/messages$/, status, code });
      const err = await general.send('x').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DiscordAPIError);
      expect(err).toMatchObject({ code, status });
    }
    emulator.injectFault({ path: '/messages', status: 429, retryAfter: 0.05 });
    const ok = await general.send('after rate limit');
    expect(ok.content).toBe('after rate limit');
    expect(emulator.calls.slice(-2).map((c) => c.status)).toEqual([429, 200]);
    await expect(
      general.send({ files: [{ attachment: Buffer.alloc(20 * 1024 * 1024 + 1), name: 'big.mp4' }] }),
    ).rejects.toEqual(apiError(40005, 413));
    await expect(
      client.rest.post(Routes.channelMessages(MAIN.channels.general.id), {
        body: {
          content: `<@${WORLD.users.member.id}>`,
          allowed_mentions: { parse: ['users'], users: [WORLD.users.member.id] },
        },
      }),
    ).rejects.toEqual(apiError(50035, 400));
    expect(await client.rest.get('/nope').catch((e) => e)).toMatchObject({ status: 404, code: 0 });
  });

  test('413 on an interaction follow-up over attachment_size_limit', async () => {
    emulator.pushInteraction({ name: 'job', subcommand: 'hold', attachmentSizeLimit: 1024 });
    const i = await nextHeld();
    expect(i.attachmentSizeLimit).toBe(1024);
    await i.deferReply();
    await expect(i.editReply({ files: [{ attachment: Buffer.alloc(2048), name: 'v.mp4' }] })).rejects.toEqual(
      apiError(40005, 413),
    );
    await i.editReply({ files: [{ attachment: Buffer.alloc(1000), name: 'v.mp4' }] });
  });

  test('interaction token time: 10062 after 3 s, 40060 on second ack, 50027 after 15 min (bot token kept)', async () => {
    emulator.pushInteraction({ name: 'job', subcommand: 'hold' });
    const late = await nextHeld();
    clock.advance(3_001);
    await expect(late.deferReply()).rejects.toEqual(apiError(10062, 404));

    const h = emulator.pushInteraction({ name: 'job', subcommand: 'hold' });
    const twice = await nextHeld();
    await twice.deferReply();
    await expect(
      client.rest.post(Routes.interactionCallback(h.id, h.token), {
        body: { type: 4, data: { content: 'x' } },
        auth: false,
      }),
    ).rejects.toEqual(apiError(40060, 400));
    await twice.editReply('within 15 min');
    clock.advance(15 * 60_000 + 1);
    await expect(twice.editReply('too late')).rejects.toEqual(apiError(50027, 401));
    await expect(twice.followUp('too late')).rejects.toEqual(apiError(50027, 401));
    expect(h.original()?.content).toBe('within 15 min');
    await channel(MAIN.channels.general.id).send('bot token still set'); // the webhook 401 did not clear it
  });

  test('nonce dedupe within the window on the emulator clock', async () => {
    const general = channel(MAIN.channels.general.id);
    const a = await general.send({ content: 'done #1', nonce: 'req-1', enforceNonce: true });
    const b = await general.send({ content: 'done #1 again', nonce: 'req-1', enforceNonce: true });
    expect(b.id).toBe(a.id);
    expect(emulator.messages(MAIN.channels.general.id)).toHaveLength(1);
    clock.advance(5 * 60_000 + 1);
    const c = await general.send({ content: 'done #1 later', nonce: 'req-1', enforceNonce: true });
    expect(c.id).not.toBe(a.id);
  });

  test('pings: allowed user only, @everyone with parse [] pings nobody, defaults, edits never ping', async () => {
    const general = channel(MAIN.channels.general.id);
    const { member, member2 } = WORLD.users;
    const m1 = await general.send({
      content: `<@${member.id}> <@!${member2.id}> @everyone`,
      allowedMentions: { parse: [], users: [member.id] },
    });
    const m2 = await general.send(`@everyone <@${member.id}> <@&${MAIN.roles.admins.id}>`); // client default parse: []
    const m3 = (await client.rest.post(Routes.channelMessages(general.id), {
      body: { content: `@here <@${member2.id}> <@&${MAIN.roles.admins.id}>` },
    })) as { id: string }; // no allowed_mentions: Discord's defaults (bot has MentionEveryone)
    await m2.edit({ content: `<@${member.id}> edited`, allowedMentions: { users: [member.id] } });
    const byId = (id: string) => emulator.messages().find((m) => m.id === id)!;
    expect(byId(m1.id).pinged).toEqual({ users: [member.id], roles: [], everyone: false });
    expect(byId(m1.id).raw.mentions.map((u: { id: string }) => u.id)).toEqual([member.id]);
    expect(byId(m2.id).pinged).toEqual({ users: [], roles: [], everyone: false });
    expect(byId(m2.id)).toMatchObject({ edits: 1, content: `<@${member.id}> edited` });
    expect(byId(m2.id).editLog[0].pinged).toEqual({ users: [], roles: [], everyone: false });
    expect(byId(m3.id).pinged).toEqual({ users: [member2.id], roles: [MAIN.roles.admins.id], everyone: true });
  });

  test('RESUME after op 7 and after a 4000 close keeps the session and replays missed dispatches', async () => {
    const s = emulator.sessions[0];
    emulator.sendReconnect(0);
    await emulator.waitFor(() => s.resumes === 1 && s.connected, 10_000, 'resume');
    expect(s.closeCodes).toEqual([4200]);
    emulator.closeSession(0, 4000);
    const h = emulator.pushInteraction({
      name: 'job',
      subcommand: 'start',
      options: { prompt: 'replayed' },
      sessionIndex: 0,
    });
    await h.waitForReply((m) => m.content.startsWith('started replayed'), 10_000);
    expect(s.resumes).toBe(2);
    expect(emulator.sessions).toHaveLength(1);
    expect(s.dispatches.map((d) => d.t)).toContain('RESUMED');
  });

  test('two clients with the same token get separate sessions, and both get every interaction', async () => {
    const second = new Client(
      clientOptions({ intents: [GatewayIntentBits.Guilds], rest: { api: emulator.apiUrl, retries: 0 } }),
    );
    try {
      const got: string[] = [];
      second.on(Events.InteractionCreate, (i) => void got.push(i.id));
      const ready = new Promise((resolve) => second.once(Events.ClientReady, resolve));
      await second.login(emulator.token);
      await ready;
      expect(emulator.sessions.filter((x) => x.connected && !x.invalidated)).toHaveLength(2);
      // Discord sends a shard's events to every session of it (gateway.mdx "Sharding"): the second client sees the
      // interaction too, and whichever acknowledges second is refused (40060).
      const a = emulator.pushInteraction({ name: 'job', subcommand: 'hold' });
      await emulator.waitFor(() => got.includes(a.id), 5_000, 'second client got it');
      expect(
        emulator.sessions[0]!.dispatches.some(
          (d) => d.t === 'INTERACTION_CREATE' && (d.d as { id: string }).id === a.id,
        ),
      ).toBe(true);
    } finally {
      await second.destroy();
    }
    await emulator.waitFor(() => emulator.sessions[1].invalidated, 5_000, 'second session ended');
  });
});
