// The short version of the cluster-tests scenario `member-kill` (kill -9 of random members, a flapping member, a young member that crashes), run by `npm test`.
// The long version: npm run cluster-tests -- member-kill --duration 300
import t from 'tap';
import { shortScenarioTest } from './scenario-process.js';

shortScenarioTest(t, { scenario: 'member-kill', durationS: 15, faults: ['kill-member', 'kill-majority', 'kill-all', 'flap-member', 'young-crash'] });
