import { VideoRequest } from './VideoRequest';
import { VideoRequestAttempt } from './VideoRequestAttempt';

export { VideoRequest, VideoRequestAttempt };
export const entities = [VideoRequest, VideoRequestAttempt];
