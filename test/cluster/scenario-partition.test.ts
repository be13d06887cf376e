// The short version of the cluster-tests scenario `partition` (partitions on 3 members: leader or minority isolated, bridge, one-way, slow links), run by `npm test`.
// The long version: npm run cluster-tests -- partition --duration 300
import t from 'tap';
import { shortScenarioTest } from './scenario-process.js';

shortScenarioTest(t, { scenario: 'partition', durationS: 15, faults: ['partition', 'slow-links'] });
