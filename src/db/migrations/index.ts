import { Baseline1764400000000 } from './1764400000000-Baseline';
import { ResumeTracking1764400000001 } from './1764400000001-ResumeTracking';
import { InteractionIdAndErrors1764400000002 } from './1764400000002-InteractionIdAndErrors';
import { FailureReason1764400000010 } from './1764400000010-FailureReason';
import { SpendControl1764400000020 } from './1764400000020-SpendControl';
import { InstanceHeartbeats1764400000030 } from './1764400000030-InstanceHeartbeats';
import { Iterations1764400000040 } from './1764400000040-Iterations';
import { AdminRuns1764400000050 } from './1764400000050-AdminRuns';
import { ImageIntake1764400000060 } from './1764400000060-ImageIntake';

/** Every migration, in order. Add new ones at the end. */
export const migrations = [
  Baseline1764400000000,
  ResumeTracking1764400000001,
  InteractionIdAndErrors1764400000002,
  FailureReason1764400000010,
  SpendControl1764400000020,
  InstanceHeartbeats1764400000030,
  Iterations1764400000040,
  AdminRuns1764400000050,
  ImageIntake1764400000060,
];
