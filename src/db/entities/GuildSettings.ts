import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/**
 * Mapping of `guild_settings`: what a server set with `/settings set`, NULL = the operator's default (schema owned by
 * the migrations; never synchronised).
 */
@Entity({ name: 'guild_settings', synchronize: false })
export class GuildSettings {
  @PrimaryColumn({ name: 'guild_id', type: 'text' }) guildId!: string;
  @Column({ name: 'allowed_channel_ids', type: 'text', array: true, nullable: true }) allowedChannelIds!:
    string[] | null;
  @Column({ name: 'member_daily_quota', type: 'integer', nullable: true }) memberDailyQuota!: number | null;
  @Column({ name: 'daily_video_seconds', type: 'integer', nullable: true }) dailyVideoSeconds!: number | null;
  @Column({ name: 'allow_hd', type: 'boolean', nullable: true }) allowHd!: boolean | null;
  @Column({ name: 'allow_audio', type: 'boolean', nullable: true }) allowAudio!: boolean | null;
  @Column({ name: 'max_length_seconds', type: 'integer', nullable: true }) maxLengthSeconds!: number | null;
  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' }) updatedAt!: Date;
  @Column({ name: 'updated_by', type: 'text', nullable: true }) updatedBy!: string | null;
}

/** Mapping of `guild_setting_changes`: who changed which setting of a server, from what to what. */
@Entity({ name: 'guild_setting_changes', synchronize: false })
export class GuildSettingChange {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column({ name: 'guild_id', type: 'text' }) guildId!: string;
  @Column({ name: 'user_id', type: 'text' }) userId!: string;
  @Column({ type: 'text' }) setting!: string;
  @Column({ name: 'old_value', type: 'text', nullable: true }) oldValue!: string | null;
  @Column({ name: 'new_value', type: 'text', nullable: true }) newValue!: string | null;
  @Column({ name: 'changed_at', type: 'timestamptz', default: () => 'now()' }) changedAt!: Date;
}
