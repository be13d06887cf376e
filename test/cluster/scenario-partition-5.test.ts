// The short version of the cluster-tests scenario `partition-5` (the partitions on 5 members (a real bridge)), run by `npm test`.
// The long version: npm run cluster-tests -- partition-5 --duration 300
import t from 'tap';
import { shortScenarioTest } from './scenario-process.js';

shortScenarioTest(t, { scenario: 'partition-5', durationS: 15, faults: ['partition', 'slow-links'] });
