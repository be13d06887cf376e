// The short version of the cluster-tests scenario `leader-pause` (SIGSTOP of the leader for longer than an election timeout), run by `npm test`.
// The long version: npm run cluster-tests -- leader-pause --duration 300
import t from 'tap';
import { shortScenarioTest } from './scenario-process.js';

shortScenarioTest(t, { scenario: 'leader-pause', durationS: 15, faults: ['pause-leader'], failover: true });
