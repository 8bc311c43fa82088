/** Third-party clients (fivebeans, jackd, node-beanstalk) against a node and the reference server. */
import { selectedClientTargets } from '../support/client-targets';
import { compatSuite } from '../support/compat-suite';

compatSuite(selectedClientTargets());
