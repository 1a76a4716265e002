// The Discord emulator refuses message bodies that Discord refuses: each rule once, through the real @discordjs/rest
// client, asserting the DiscordAPIError (code, status) and the field path in `rawError.errors`. Rules and sources:
// tests/emulators/discord/README.md.
import { DiscordAPIError, REST, type RawFile } from '@discordjs/rest';
import { ButtonStyle, ComponentType, InteractionResponseType, MessageFlags, Routes } from 'discord-api-types/v10';
import { WebSocket } from 'ws';
import { DiscordEmulator, WORLD } from './discord';

const GENERAL = WORLD.guilds.main.channels.general.id;
const button = (custom_id: string, extra: object = {}) => ({
  type: ComponentType.Button,
  style: ButtonStyle.Primary,
  label: custom_id,
  custom_id,
  ...extra,
});
const row = (...components: object[]) => ({ type: ComponentType.ActionRow, components });
const x = (n: number) => 'x'.repeat(n);

/** The `_errors` at a dotted path of a 50035 body's `errors`, e.g. `embeds.0.fields.3.value`. */
function errorsAt(err: unknown, path: string): { code: string; message: string }[] | undefined {
  let node: any = (err as DiscordAPIError).rawError;
  node = node?.errors;
  for (const key of path ? path.split('.') : []) node = node?.[key];
  return node?._errors;
}

describe('Discord emulator: message validation', () => {
  let emu: DiscordEmulator;
  let rest: REST;
  let ws: WebSocket;

  /** Expects a 400 Invalid Form Body with `code` (and `message` if given) at `path`. */
  const refused = async (request: Promise<unknown>, path: string, code: string, message?: string) => {
    const err = await request.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DiscordAPIError);
    expect(err).toMatchObject({ status: 400, code: 50035 });
    expect(errorsAt(err, path)).toEqual([expect.objectContaining({ code, ...(message ? { message } : {}) })]);
  };
  const empty = async (request: Promise<unknown>) =>
    expect(await request.catch((e: unknown) => e)).toMatchObject({
      status: 400,
      code: 50006,
      message: 'Cannot send an empty message',
    });
  const send = (body: object, files?: RawFile[]) => rest.post(Routes.channelMessages(GENERAL), { body, files });
  const edit = (id: string, body: object, files?: RawFile[]) =>
    rest.patch(Routes.channelMessage(GENERAL, id), { body, files });
  const interaction = () => emu.pushInteraction({ name: 'anything' });
  const callback = (h: { id: string; token: string }, body: object) =>
    rest.post(Routes.interactionCallback(h.id, h.token), { body, auth: false });
  const webhook = (h: { token: string }, messageId?: string) =>
    messageId
      ? Routes.webhookMessage(WORLD.applicationId, h.token, messageId)
      : Routes.webhook(WORLD.applicationId, h.token);

  beforeAll(async () => {
    emu = await DiscordEmulator.start({ ackDeadlineMs: 60_000 });
    rest = new REST({ api: emu.apiUrl, retries: 0 }).setToken(emu.token);
    // A bare gateway session, so that interactions can be dispatched.
    ws = new WebSocket(`${emu.gatewayUrl}?v=10&encoding=json`);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ op: 2, d: { token: emu.token, intents: 1, properties: {} } }));
    await emu.waitFor(() => emu.sessions.some((s) => s.ready), 2_000, 'session');
  });
  afterAll(async () => {
    ws?.close(1000);
    await emu?.close();
  });

  test('content ≤ 2000 (code points), nonce ≤ 25, never empty', async () => {
    await refused(send({ content: x(2001) }), 'content', 'BASE_TYPE_MAX_LENGTH', 'Must be 2000 or fewer in length.');
    await send({ content: '😀'.repeat(2000) }); // 4000 UTF-16 units, 2000 characters
    await refused(
      send({ content: 'n', nonce: x(26) }),
      'nonce',
      'NONCE_TYPE_TOO_LONG',
      'Must be 25 or fewer characters long.',
    );
    await empty(send({}));
    await empty(send({ content: '', embeds: [], components: [] }));
  });

  test('embed limits, each at its field path', async () => {
    const embed = (e: object) => send({ embeds: [{ title: 't' }, e] });
    await refused(send({ embeds: Array(11).fill({ title: 't' }) }), 'embeds', 'BASE_TYPE_MAX_LENGTH');
    await refused(
      embed({ title: x(257) }),
      'embeds.1.title',
      'BASE_TYPE_MAX_LENGTH',
      'Must be 256 or fewer in length.',
    );
    await refused(embed({ description: x(4097) }), 'embeds.1.description', 'BASE_TYPE_MAX_LENGTH');
    await refused(embed({ footer: { text: x(2049) } }), 'embeds.1.footer.text', 'BASE_TYPE_MAX_LENGTH');
    await refused(embed({ author: { name: x(257) } }), 'embeds.1.author.name', 'BASE_TYPE_MAX_LENGTH');
    const fields = (n: number, f: object = {}) =>
      Array.from({ length: n }, (_, i) => ({ name: `f${i}`, value: 'v', ...f }));
    await refused(
      embed({ fields: fields(26) }),
      'embeds.1.fields',
      'BASE_TYPE_MAX_LENGTH',
      'Must be 25 or fewer in length.',
    );
    const fourth = (f: object) => embed({ fields: [...fields(3), { name: 'n', value: 'v', ...f }] });
    await refused(
      fourth({ value: x(1025) }),
      'embeds.1.fields.3.value',
      'BASE_TYPE_MAX_LENGTH',
      'Must be 1024 or fewer in length.',
    );
    await refused(fourth({ name: x(257) }), 'embeds.1.fields.3.name', 'BASE_TYPE_MAX_LENGTH');
    await refused(fourth({ value: '' }), 'embeds.1.fields.3.value', 'BASE_TYPE_REQUIRED', 'This field is required');
    await refused(fourth({ name: '   ' }), 'embeds.1.fields.3.name', 'BASE_TYPE_REQUIRED'); // trimmed
    await fourth({ name: '\u200b', value: `  ${x(1024)}  ` }); // zero-width space is not whitespace; trimmed to 1024
    await refused(
      send({ embeds: [{ description: x(4000) }, { description: x(2001) }] }),
      'embeds',
      'MAX_EMBED_SIZE_EXCEEDED',
      'Embed size exceeds maximum size of 6000',
    );
  });

  test('action rows, buttons, selects and custom_id', async () => {
    const components = (...rows: object[]) => send({ content: 'c', components: rows });
    await refused(
      components(...Array.from({ length: 6 }, (_, i) => row(button(`b${i}`)))),
      'components',
      'BASE_TYPE_MAX_LENGTH',
    );
    await refused(
      components(row(...Array.from({ length: 6 }, (_, i) => button(`b${i}`)))),
      'components.0.components',
      'BASE_TYPE_BAD_LENGTH',
      'Must be between 1 and 5 in length.',
    );
    await refused(components(row()), 'components.0.components', 'BASE_TYPE_BAD_LENGTH');
    await refused(components(button('top')), 'components.0', 'UNION_TYPE_CHOICES');
    const select = (custom_id: string, n = 1) => ({
      type: ComponentType.StringSelect,
      custom_id,
      options: Array.from({ length: n }, (_, i) => ({ label: `o${i}`, value: `o${i}` })),
    });
    await refused(
      components(row(select('s'), button('b'))),
      'components.0.components.1',
      'COMPONENT_LAYOUT_WIDTH_EXCEEDED',
    );
    await refused(components(row(select('s', 26))), 'components.0.components.0.options', 'BASE_TYPE_BAD_LENGTH');
    // Disabled buttons count too (the /resume status pager's "◀ Newer" and "Refresh").
    await refused(
      components(row(button('page:0', { disabled: true }), button('page:0'))),
      'components.0.components.1.custom_id',
      'COMPONENT_CUSTOM_ID_DUPLICATED',
      'Component custom id cannot be duplicated',
    );
    await refused(
      components(row(button('a')), row(button('a'))),
      'components.1.components.0.custom_id',
      'COMPONENT_CUSTOM_ID_DUPLICATED',
    );
    await refused(components(row(button(x(101)))), 'components.0.components.0.custom_id', 'BASE_TYPE_BAD_LENGTH');
    await refused(
      components(row(button('', { custom_id: undefined }))),
      'components.0.components.0.custom_id',
      'BUTTON_COMPONENT_CUSTOM_ID_REQUIRED',
    );
    await refused(
      components(row(button('a', { url: 'https://example.com' }))),
      'components.0.components.0.url',
      'BUTTON_COMPONENT_CUSTOM_ID_URL_MUTUALLY_EXCLUSIVE',
    );
    const link = (extra: object) => ({ type: ComponentType.Button, style: ButtonStyle.Link, label: 'go', ...extra });
    await refused(components(row(link({}))), 'components.0.components.0.url', 'BUTTON_COMPONENT_URL_REQUIRED');
    await refused(
      components(row(link({ url: 'https://example.com', custom_id: 'l' }))),
      'components.0.components.0.custom_id',
      'BUTTON_COMPONENT_CUSTOM_ID_URL_MUTUALLY_EXCLUSIVE',
    );
    await refused(
      components(row(link({ url: `https://example.com/${x(500)}` }))),
      'components.0.components.0.url',
      'BASE_TYPE_MAX_LENGTH',
      'Must be 512 or fewer in length.',
    );
    await components(
      row(button('a'), button('b', { disabled: true }), link({ url: 'https://example.com' })),
      row(select('s')),
    );
  });

  test('allowed_mentions and attachments', async () => {
    const member = WORLD.users.member.id;
    await refused(
      send({ content: 'c', allowed_mentions: { parse: ['users'], users: [member] } }),
      'allowed_mentions',
      'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE',
      'parse:["users"] and users: [ids...] are mutually exclusive.',
    );
    const ids = Array.from({ length: 101 }, (_, i) => String(1300000000000100000n + BigInt(i)));
    await refused(
      send({ content: 'c', allowed_mentions: { roles: ids } }),
      'allowed_mentions.roles',
      'BASE_TYPE_MAX_LENGTH',
    );
    const file: RawFile = { name: 'a.txt', data: Buffer.from('a') };
    await refused(
      send({ content: 'c', attachments: [{ id: '1', filename: 'a.txt' }] }, [file]),
      'attachments.0',
      'ATTACHMENT_NOT_FOUND',
      'Attachment data not found',
    );
    const m = (await send({ attachments: [{ id: '0', filename: 'a.txt' }] }, [file])) as any;
    await edit(m.id, { content: 'kept', attachments: [{ id: m.attachments[0].id }] });
    await refused(
      edit(m.id, { attachments: [{ id: '1300000000000999999' }] }),
      'attachments.0',
      'ATTACHMENT_NOT_FOUND',
    );
  });

  test('edits are checked in the fields they send, and must not leave the message empty', async () => {
    const text = (await send({ content: 'text only' })) as any;
    await edit(text.id, { embeds: [{ title: 't' }] }); // content untouched
    await refused(
      edit(text.id, { embeds: [{ fields: [{ name: 'n', value: x(1025) }] }] }),
      'embeds.0.fields.0.value',
      'BASE_TYPE_MAX_LENGTH',
    );
    await edit(text.id, { content: '' }); // the embed remains
    await empty(edit(text.id, { embeds: [] }));
    expect(emu.message(text.id)).toMatchObject({ content: '', embeds: [expect.objectContaining({ title: 't' })] });
  });

  test('interaction callbacks (under data), follow-ups and @original edits', async () => {
    const dup = [row(button('resume:status:0', { disabled: true }), button('resume:status:0'))];
    const a = interaction();
    await refused(
      callback(a, { type: InteractionResponseType.ChannelMessageWithSource, data: { content: 'c', components: dup } }),
      'data.components.0.components.1.custom_id',
      'COMPONENT_CUSTOM_ID_DUPLICATED',
    );
    await empty(callback(a, { type: InteractionResponseType.ChannelMessageWithSource, data: {} }));
    expect(a.interaction.ackType).toBeUndefined(); // a refused callback does not acknowledge

    const b = interaction();
    await callback(b, {
      type: InteractionResponseType.DeferredChannelMessageWithSource,
      data: { flags: MessageFlags.Ephemeral },
    });
    const field = {
      embeds: [{ title: 'Video', fields: [{ name: 'Link', value: `https://storage.example/${x(1100)}` }] }],
    };
    await refused(
      rest.patch(webhook(b, '@original'), { body: field, auth: false }),
      'embeds.0.fields.0.value',
      'BASE_TYPE_MAX_LENGTH',
    );
    await empty(rest.patch(webhook(b, '@original'), { body: { content: '' }, auth: false })); // still loading: empty
    await rest.patch(webhook(b, '@original'), { body: { content: 'done' }, auth: false });
    await refused(
      rest.post(webhook(b), { body: { content: x(2001) }, auth: false }),
      'content',
      'BASE_TYPE_MAX_LENGTH',
    );
    await empty(rest.post(webhook(b), { body: {}, auth: false }));
    const f = (await rest.post(webhook(b), {
      body: { content: 'follow-up' },
      query: new URLSearchParams({ wait: 'true' }),
      auth: false,
    })) as any;
    await refused(
      rest.patch(webhook(b, f.id), { body: { components: dup }, auth: false }),
      'components.0.components.1.custom_id',
      'COMPONENT_CUSTOM_ID_DUPLICATED',
    );

    const msg = (await send({ content: 'pager', components: [row(button('p:1'))] })) as any;
    const press = emu.pushComponent({ message: msg.id, customId: 'p:1' });
    await refused(
      callback(press, { type: InteractionResponseType.UpdateMessage, data: { components: dup } }),
      'data.components.0.components.1.custom_id',
      'COMPONENT_CUSTOM_ID_DUPLICATED',
    );
    await callback(press, { type: InteractionResponseType.UpdateMessage, data: { components: [] } }); // content remains
    expect(emu.message(msg.id)).toMatchObject({ content: 'pager', components: [] });
  });
});
