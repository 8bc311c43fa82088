/**
 * The third-party client suite played through the proxy: in front of 3 stalkd nodes and in front
 * of 3 beanstalkd servers.
 */
import { compatSuite } from '../support/compat-suite';
import { proxyClientTargets } from '../support/proxy-target';

compatSuite(proxyClientTargets());
