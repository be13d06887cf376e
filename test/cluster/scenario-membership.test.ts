// The short version of the cluster-tests scenario `membership` (learner added, promoted, an old voter removed, under load), run by `npm test`.
// The long version: npm run cluster-tests -- membership --duration 300
import t from 'tap';
import { shortScenarioTest } from './scenario-process.js';

shortScenarioTest(t, { scenario: 'membership', durationS: 20, faults: ['member-add', 'member-remove'] });
