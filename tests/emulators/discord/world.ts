// Fixture world of the Discord emulator: users, guilds, roles, channels with overwrites, members, and the
// permission arithmetic Discord (and discord.js's cache) use. Everything here is plain data so tests can read ids.
import {
  ChannelType,
  GuildDefaultMessageNotifications,
  GuildExplicitContentFilter,
  GuildMFALevel,
  GuildNSFWLevel,
  GuildPremiumTier,
  GuildVerificationLevel,
  OverwriteType,
  PermissionFlagsBits as P,
} from 'discord-api-types/v10';

export interface WorldUser {
  id: string;
  username: string;
  globalName: string | null;
  bot?: boolean;
}
export interface WorldRole {
  id: string;
  name: string;
  permissions: string;
  position: number;
  mentionable: boolean;
  managed: boolean;
}
export interface WorldOverwrite {
  id: string;
  type: OverwriteType;
  allow: string;
  deny: string;
}
export interface WorldChannel {
  id: string;
  name: string;
  type: ChannelType.GuildText;
  position: number;
  overwrites: WorldOverwrite[];
}
export interface WorldMember {
  userId: string;
  roles: string[];
  joinedAt: string;
}
export interface WorldGuild {
  id: string;
  name: string;
  ownerId: string;
  premiumTier: 0 | 1 | 2 | 3;
  /** `everyone` has the guild's id. */
  roles: Record<string, WorldRole>;
  channels: Record<string, WorldChannel>;
  members: WorldMember[];
}
/**
 * How the emulated application may connect (gateway.mdx "Sharding", "Session Start Limit Object"). Tests change these
 * on `emulator.world.sharding` before the bot connects.
 */
export interface WorldSharding {
  /** Guilds one session may hold; more on one shard closes IDENTIFY with 4011 (Discord: 2,500). */
  maxGuildsPerShard: number;
  /** `shards` of GET /gateway/bot; null = Discord's rule of thumb, one shard per 1,000 guilds (at least 1). */
  recommendedShards: number | null;
  /** Session starts (IDENTIFYs) allowed per window (Discord: 1,000 a day). */
  sessionStartTotal: number;
  /** Length of the session start window on the emulator clock (Discord: 24 h). */
  sessionStartWindowMs: number;
  /** IDENTIFYs allowed per 5 s, one per rate-limit bucket `shard_id % max_concurrency` (Discord: 1 for most bots). */
  maxConcurrency: number;
}
export interface World {
  applicationId: string;
  botUserId: string;
  users: Record<'bot' | 'owner' | 'admin' | 'member' | 'member2' | 'otherAdmin', WorldUser>;
  /** `main` and `other` always exist; `addGuild` (emulator) adds more under their own keys. */
  guilds: { main: WorldGuild; other: WorldGuild; [key: string]: WorldGuild };
  sharding: WorldSharding;
}

const s = (b: bigint) => b.toString();
const EVERYONE_PERMS =
  P.ViewChannel |
  P.SendMessages |
  P.SendMessagesInThreads |
  P.EmbedLinks |
  P.AttachFiles |
  P.ReadMessageHistory |
  P.AddReactions |
  P.UseApplicationCommands |
  P.UseExternalEmojis |
  P.Connect |
  P.Speak |
  P.ChangeNickname;
const BOT_ROLE_PERMS =
  P.ViewChannel | P.SendMessages | P.EmbedLinks | P.AttachFiles | P.ReadMessageHistory | P.MentionEveryone;
const ADMIN_ROLE_PERMS = P.ManageGuild | P.ManageMessages;
const JOINED = '2024-01-01T00:00:00.000Z';

const APP = '1300000000000000001';
const U = {
  owner: '1300000000000000101',
  admin: '1300000000000000102',
  member: '1300000000000000103',
  member2: '1300000000000000104',
  otherAdmin: '1300000000000000105',
};
const MAIN = '1300000000000001001';
const OTHER = '1300000000000002001';

function role(id: string, name: string, perms: bigint, position: number, managed = false): WorldRole {
  return { id, name, permissions: s(perms), position, mentionable: false, managed };
}

export const WORLD: World = Object.freeze({
  applicationId: APP,
  botUserId: APP,
  users: {
    bot: { id: APP, username: 'veobot', globalName: null, bot: true },
    owner: { id: U.owner, username: 'owner', globalName: 'Owner' },
    admin: { id: U.admin, username: 'alice', globalName: 'Alice' },
    member: { id: U.member, username: 'bob', globalName: 'Bob' },
    member2: { id: U.member2, username: 'carol', globalName: 'Carol' },
    otherAdmin: { id: U.otherAdmin, username: 'dave', globalName: 'Dave' },
  },
  guilds: {
    main: {
      id: MAIN,
      name: 'Veo Main',
      ownerId: U.owner,
      premiumTier: 0,
      roles: {
        everyone: role(MAIN, '@everyone', EVERYONE_PERMS, 0),
        admins: role('1300000000000001002', 'admins', ADMIN_ROLE_PERMS, 2),
        bot: role('1300000000000001003', 'veobot', BOT_ROLE_PERMS, 1, true),
      },
      channels: {
        general: {
          id: '1300000000000001011',
          name: 'general',
          type: ChannelType.GuildText,
          position: 0,
          overwrites: [],
        },
        videos: { id: '1300000000000001012', name: 'videos', type: ChannelType.GuildText, position: 1, overwrites: [] },
        locked: {
          id: '1300000000000001013',
          name: 'locked',
          type: ChannelType.GuildText,
          position: 2,
          overwrites: [{ id: APP, type: OverwriteType.Member, allow: '0', deny: s(P.SendMessages) }],
        },
        hidden: {
          id: '1300000000000001014',
          name: 'hidden',
          type: ChannelType.GuildText,
          position: 3,
          overwrites: [{ id: APP, type: OverwriteType.Member, allow: '0', deny: s(P.ViewChannel) }],
        },
      },
      members: [
        { userId: APP, roles: ['1300000000000001003'], joinedAt: JOINED },
        { userId: U.owner, roles: [], joinedAt: JOINED },
        { userId: U.admin, roles: ['1300000000000001002'], joinedAt: JOINED },
        { userId: U.member, roles: [], joinedAt: JOINED },
        { userId: U.member2, roles: [], joinedAt: JOINED },
      ],
    },
    other: {
      id: OTHER,
      name: 'Veo Other',
      ownerId: U.owner,
      premiumTier: 0,
      roles: {
        everyone: role(OTHER, '@everyone', EVERYONE_PERMS, 0),
        admins: role('1300000000000002002', 'admins', ADMIN_ROLE_PERMS, 2),
        bot: role('1300000000000002003', 'veobot', BOT_ROLE_PERMS, 1, true),
      },
      channels: {
        general: {
          id: '1300000000000002011',
          name: 'general',
          type: ChannelType.GuildText,
          position: 0,
          overwrites: [],
        },
      },
      members: [
        { userId: APP, roles: ['1300000000000002003'], joinedAt: JOINED },
        { userId: U.owner, roles: [], joinedAt: JOINED },
        { userId: U.otherAdmin, roles: ['1300000000000002002'], joinedAt: JOINED },
        { userId: U.member, roles: [], joinedAt: JOINED },
      ],
    },
  },
  sharding: {
    maxGuildsPerShard: 2_500,
    recommendedShards: null,
    sessionStartTotal: 1_000,
    sessionStartWindowMs: 24 * 3_600_000,
    maxConcurrency: 1,
  },
}) as World;

export const ALL_PERMISSIONS = Object.values(P).reduce((a, b) => a | b, 0n);

// ---- sharding (gateway.mdx "Sharding Formula") ------------------------------------------------------------------
/** The shard that receives a guild's events: `(guild_id >> 22) % num_shards`. */
export const shardOf = (guildId: string, shardCount: number): number =>
  Number((BigInt(guildId) >> 22n) % BigInt(shardCount));

/** Shards GET /gateway/bot recommends: the world's setting, else one per 1,000 guilds. */
export const recommendedShards = (w: World): number =>
  w.sharding.recommendedShards ?? Math.max(1, Math.ceil(guildList(w).length / 1_000));

/**
 * A guild id (a snowflake) that lands on `shardId` of `shardCount`; `n` tells apart several ids for the same shard.
 * Its timestamp part is a little after the fixture guilds', so the ids stay 19 digits.
 */
export function guildIdOnShard(shardId: number, shardCount: number, n = 0): string {
  const base = (BigInt(WORLD.guilds.main.id) >> 22n) + 1_000n + BigInt(n) * BigInt(shardCount);
  const timestamp = base + ((BigInt(shardId) - (base % BigInt(shardCount)) + BigInt(shardCount)) % BigInt(shardCount));
  return ((timestamp << 22n) | 0x3e8n).toString();
}

/**
 * A guild like `other`: the bot, the owner, `admin` (in an admins role), `member` and `member2`, one #general
 * channel. Ids derive from the guild id (roles +2/+3, channel +11).
 */
export function makeGuild(id: string, name: string): WorldGuild {
  const plus = (k: bigint) => (BigInt(id) + k).toString();
  return {
    id,
    name,
    ownerId: U.owner,
    premiumTier: 0,
    roles: {
      everyone: role(id, '@everyone', EVERYONE_PERMS, 0),
      admins: role(plus(2n), 'admins', ADMIN_ROLE_PERMS, 2),
      bot: role(plus(3n), 'veobot', BOT_ROLE_PERMS, 1, true),
    },
    channels: {
      general: { id: plus(11n), name: 'general', type: ChannelType.GuildText, position: 0, overwrites: [] },
    },
    members: [
      { userId: APP, roles: [plus(3n)], joinedAt: JOINED },
      { userId: U.owner, roles: [], joinedAt: JOINED },
      { userId: U.admin, roles: [plus(2n)], joinedAt: JOINED },
      { userId: U.member, roles: [], joinedAt: JOINED },
      { userId: U.member2, roles: [], joinedAt: JOINED },
    ],
  };
}

// ---- lookups -------------------------------------------------------------------------------------------------
export const guildList = (w: World): WorldGuild[] => Object.values(w.guilds);
export const findGuild = (w: World, id: string) => guildList(w).find((g) => g.id === id);
export const findUser = (w: World, id: string) => Object.values(w.users).find((u) => u.id === id);
export function findChannel(w: World, id: string): { guild: WorldGuild; channel: WorldChannel } | undefined {
  for (const guild of guildList(w)) {
    const channel = Object.values(guild.channels).find((c) => c.id === id);
    if (channel) return { guild, channel };
  }
  return undefined;
}
export const findMember = (g: WorldGuild, userId: string) => g.members.find((m) => m.userId === userId);
export const findRole = (g: WorldGuild, id: string) => Object.values(g.roles).find((r) => r.id === id);

// ---- permissions (https://discord.com/developers/docs/topics/permissions#permission-overwrites) --------------
export function basePermissions(g: WorldGuild, userId: string): bigint {
  if (g.ownerId === userId) return ALL_PERMISSIONS;
  const member = findMember(g, userId);
  if (!member) return 0n;
  let perms = BigInt(g.roles.everyone.permissions);
  for (const r of member.roles) perms |= BigInt(findRole(g, r)?.permissions ?? '0');
  return perms & P.Administrator ? ALL_PERMISSIONS : perms;
}

export function channelPermissions(g: WorldGuild, c: WorldChannel, userId: string): bigint {
  let perms = basePermissions(g, userId);
  if (perms === ALL_PERMISSIONS) return perms;
  const member = findMember(g, userId);
  if (!member) return 0n;
  const ow = (id: string, type: OverwriteType) => c.overwrites.find((o) => o.id === id && o.type === type);
  const everyone = ow(g.id, OverwriteType.Role);
  if (everyone) perms = (perms & ~BigInt(everyone.deny)) | BigInt(everyone.allow);
  let allow = 0n;
  let deny = 0n;
  for (const r of member.roles) {
    const o = ow(r, OverwriteType.Role);
    if (o) {
      allow |= BigInt(o.allow);
      deny |= BigInt(o.deny);
    }
  }
  perms = (perms & ~deny) | allow;
  const mine = ow(userId, OverwriteType.Member);
  if (mine) perms = (perms & ~BigInt(mine.deny)) | BigInt(mine.allow);
  return perms & P.ViewChannel ? perms : 0n;
}

// ---- API payloads --------------------------------------------------------------------------------------------
export function userPayload(u: WorldUser) {
  return {
    id: u.id,
    username: u.username,
    discriminator: '0',
    global_name: u.globalName,
    avatar: null,
    bot: u.bot ?? false,
    system: false,
    public_flags: 0,
    flags: 0,
    banner: null,
    accent_color: null,
  };
}

export function memberPayload(w: World, g: WorldGuild, m: WorldMember) {
  const u = findUser(w, m.userId);
  return {
    user: u
      ? userPayload(u)
      : { id: m.userId, username: 'unknown', discriminator: '0', global_name: null, avatar: null },
    nick: null,
    avatar: null,
    banner: null,
    roles: m.roles,
    joined_at: m.joinedAt,
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
    communication_disabled_until: null,
  };
}

export function rolePayload(r: WorldRole) {
  return {
    id: r.id,
    name: r.name,
    color: 0,
    colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position: r.position,
    permissions: r.permissions,
    managed: r.managed,
    mentionable: r.mentionable,
    flags: 0,
    ...(r.managed ? { tags: { bot_id: APP } } : {}),
  };
}

export function channelPayload(g: WorldGuild, c: WorldChannel) {
  return {
    id: c.id,
    type: c.type,
    guild_id: g.id,
    name: c.name,
    position: c.position,
    parent_id: null,
    topic: null,
    nsfw: false,
    last_message_id: null,
    rate_limit_per_user: 0,
    flags: 0,
    permission_overwrites: c.overwrites.map((o) => ({ ...o })),
  };
}

export function guildPayload(w: World, g: WorldGuild) {
  return {
    id: g.id,
    name: g.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    banner: null,
    description: null,
    owner_id: g.ownerId,
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: GuildVerificationLevel.None,
    default_message_notifications: GuildDefaultMessageNotifications.OnlyMentions,
    explicit_content_filter: GuildExplicitContentFilter.Disabled,
    mfa_level: GuildMFALevel.None,
    nsfw_level: GuildNSFWLevel.Default,
    features: [],
    premium_tier: g.premiumTier,
    premium_subscription_count: 0,
    preferred_locale: 'en-US',
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    public_updates_channel_id: null,
    vanity_url_code: null,
    max_members: 500000,
    max_video_channel_users: 25,
    application_id: null,
    roles: Object.values(g.roles).map(rolePayload),
    emojis: [],
    stickers: [],
  };
}

/** The full GUILD_CREATE dispatch payload. */
export function guildCreatePayload(w: World, g: WorldGuild) {
  return {
    ...guildPayload(w, g),
    joined_at: JOINED,
    large: false,
    unavailable: false,
    member_count: g.members.length,
    voice_states: [],
    presences: [],
    threads: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
    channels: Object.values(g.channels).map((c) => channelPayload(g, c)),
    members: g.members.map((m) => memberPayload(w, g, m)),
  };
}

/**
 * Per-file upload limit of plain channel sends in a guild of the given boost tier: 20 MiB by default (reference.mdx
 * "Uploading Files", raised from 10 MiB by discord-api-docs PR #8578); the docs give no per-tier numbers, so tiers 2
 * and 3 use the 50 / 100 MB of third-party pages (discord-emulation.md §4).
 */
export function guildUploadLimit(g: WorldGuild | undefined): number {
  const MiB = 1024 * 1024;
  if (g?.premiumTier === GuildPremiumTier.Tier3) return 100 * MiB;
  return g?.premiumTier === GuildPremiumTier.Tier2 ? 50 * MiB : 20 * MiB;
}
