import type { Config } from './config';
import type { Metrics } from './metrics';
import type { TaskScheduler } from './scheduler/TaskScheduler';
import type { Database } from '../db/dataSource';
import type { RequestTrackingService } from '../services/RequestTrackingService';
import type { GenerationService } from '../services/GenerationService';
import type { TaskResumeService } from '../services/TaskResumeService';
import type { NotificationService } from '../services/NotificationService';
import type { VideoRequestService } from '../services/VideoRequestService';
import type { HealthState } from './health';
import type { ResumeAdminService } from '../services/ResumeAdminService';
import type { Logger } from 'pino';

declare module '@sapphire/pieces' {
  interface Container {
    config: Config;
    pino: Logger;
    metrics: Metrics;
    database: Database;
    scheduler: TaskScheduler;
    tracking: RequestTrackingService;
    generation: GenerationService;
    notifier: NotificationService;
    resume: TaskResumeService;
    videoRequests: VideoRequestService;
    health: HealthState;
    resumeAdmin: ResumeAdminService;
  }
}

declare module '@sapphire/plugin-scheduled-tasks' {
  interface ScheduledTasks {
    resume: { reason: string };
    resumeSweep: never;
  }
}
