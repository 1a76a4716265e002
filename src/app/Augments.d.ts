// What createApp puts in Sapphire's container for the pieces (commands, listeners, tasks, interaction handlers).
import type { Logger } from 'pino';
import type { Database } from '../db/dataSource';
import type { Config } from '../lib/config';
import type { Metrics } from '../lib/metrics';
import type { GuildSettingsService } from '../services/GuildSettingsService';
import type { ImageInputService } from '../services/ImageInputService';
import type { IterationService } from '../services/IterationService';
import type { ResumeAdminService } from '../services/ResumeAdminService';
import type { SpendService } from '../services/SpendService';
import type { TaskResumeService } from '../services/TaskResumeService';
import type { VideoRequestService } from '../services/VideoRequestService';
import type { HealthState } from './health';
import type { TaskScheduler } from './scheduler/TaskScheduler';

declare module '@sapphire/pieces' {
  interface Container {
    config: Config;
    pino: Logger;
    metrics: Metrics;
    database: Database;
    scheduler: TaskScheduler;
    resume: TaskResumeService;
    videoRequests: VideoRequestService;
    health: HealthState;
    resumeAdmin: ResumeAdminService;
    guildSettings: GuildSettingsService;
    spend: SpendService;
    images: ImageInputService;
    iterations: IterationService;
  }
}

declare module '@sapphire/plugin-scheduled-tasks' {
  interface ScheduledTasks {
    resume: { reason: string };
    resumeSweep: never;
  }
}
