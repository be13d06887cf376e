// The short version of the cluster-tests scenario `leader-transfer` (leadership transfer every 0.3-1.5 s), run by `npm test`.
// The long version: npm run cluster-tests -- leader-transfer --duration 300
import t from 'tap';
import { shortScenarioTest } from './scenario-process.js';

shortScenarioTest(t, { scenario: 'leader-transfer', durationS: 12, faults: ['transfer-leader'] });
