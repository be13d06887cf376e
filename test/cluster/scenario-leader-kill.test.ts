// The short version of the cluster-tests scenario `leader-kill` (kill -9 of the leader and restart, in a loop), run by `npm test`.
// The long version: npm run cluster-tests -- leader-kill --duration 300
import t from 'tap';
import { shortScenarioTest } from './scenario-process.js';

shortScenarioTest(t, { scenario: 'leader-kill', durationS: 15, faults: ['kill-leader'], failover: true });
