/** Public surface of the stalkd/beanstalkd client. */

export { MAX_REPLY_LINE_BYTES, type Reply, ReplyFormatError, ReplyParser } from '../protocol/reply-parser';
export {
  JOB_STATS_FIELDS,
  type JobState,
  type JobStats,
  SERVER_STATS_FIELDS,
  type ServerStats,
  TUBE_STATS_FIELDS,
  type TubeStats,
} from '../protocol/stats';
export { parseYamlList, parseYamlMap, YamlFormatError } from '../protocol/yaml';
export { Client, type ConnectOptions, connect, type PutOptions } from './client';
export type { Job } from './decoders';
export { ConnectionError, type ConnectionErrorCode, ProtocolError, type ProtocolErrorWord } from './errors';
