/** A reserve blocked with a held job this close to its TTR deadline answers DEADLINE_SOON (beanstalkd: 1 s). */
export const DEADLINE_SOON_MARGIN_MS = 1000;
/** beanstalkd raises any ttr below one second to one second. */
export const MIN_TTR_MS = 1000;
