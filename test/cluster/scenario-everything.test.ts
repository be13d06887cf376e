// The short version of the cluster-tests scenario `everything` (all the faults mixed), run by `npm test`.
// The long version: npm run cluster-tests -- everything --duration 300
import t from 'tap';
import { shortScenarioTest } from './scenario-process.js';

shortScenarioTest(t, { scenario: 'everything', durationS: 20, faults: ['kill-leader', 'kill-member', 'kill-majority', 'kill-all', 'flap-member', 'young-crash', 'partition', 'slow-links', 'pause-leader', 'pause-member', 'transfer-leader', 'member-add', 'member-remove'] });
