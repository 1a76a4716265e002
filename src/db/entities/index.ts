import { GuildSettingChange, GuildSettings } from './GuildSettings';
import { VideoRequest } from './VideoRequest';
import { VideoRequestAttempt } from './VideoRequestAttempt';

export { GuildSettingChange, GuildSettings, VideoRequest, VideoRequestAttempt };
export const entities = [VideoRequest, VideoRequestAttempt, GuildSettings, GuildSettingChange];
