/**
 * The third-party client tests (compat-clients.test.ts: fivebeans, jackd, node-beanstalk) played
 * through the proxy: in front of 3 stalkd nodes and in front of 3 beanstalkd servers. This file
 * swaps the target list for the proxy targets, then loads the same test module.
 */
import { CLIENT_TARGETS } from './support/client-targets';
import { proxyClientTargets } from './support/proxy-target';

CLIENT_TARGETS.length = 0;
CLIENT_TARGETS.push(...proxyClientTargets());
require('./compat-clients.test');
