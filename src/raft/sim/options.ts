// What one simulated run is asked to do, and the per-seed profile drawn from its seed: how the core
// is configured and how hard each kind of fault hits. Drawing the profile from the seed spreads
// the seeds over calm and violent runs, big and tiny messages, pre-vote on and off.
import type { RaftConfig } from '../raft.js';
import type { Rng } from './random.js';

export const BUG_NAMES = ['commitOldTermByCounting', 'grantVoteToShorterLog', 'skipPreVoteLeaseCheck', 'confirmLaterReads', 'vouchForEarlierReads', 'echoConfirmsLaterReads'] as const;
export type BugName = (typeof BUG_NAMES)[number];

export interface SimOptions {
  seed: number;
  nodes: number;
  /** Steps (events handled) of the fault phase; the liveness phase comes on top. */
  steps: number;
  /** Deliberate core bugs to switch on. */
  bugs?: readonly BugName[];
  /** Keep a trace of the run (the last `trace` lines are returned with the result). */
  trace?: number;
}

export const DEFAULT_STEPS = 5000;
/** Time units per tick: messages take 1-3 units, so a round trip fits in a heartbeat interval. */
export const TICK = 10;
export const ELECTION_TICK = 10;
export const HEARTBEAT_TICK = 1;
/** After healing, a leader must commit a new entry within this many ticks (20 election timeouts). */
export const LIVENESS_TICKS = 20 * ELECTION_TICK;

export type CoreSettings = Pick<RaftConfig, 'preVote' | 'checkQuorum' | 'maxSizePerMsg' | 'maxInflightMsgs'>;

/** Probabilities per tick of each scheduled action, and per Ready of a crash while handling it. */
export interface FaultRates {
  propose: number;
  /** Reads per tick: below 1 a chance, from 1 up that many (a read storm: followers read all the time, as in the benchmark). */
  read: number;
  partition: number;
  weather: number;
  /** One link, all of a member's outgoing links, or all of its links stall for one to three election timeouts (see Network.stall). */
  stall: number;
  crash: number;
  readyCrash: number;
  /** Per Ready of a leader, on top of readyCrash: leaders die mid-replication, where Figure 8 lurks. */
  leaderReadyCrash: number;
  /** Per election: the new leader is killed within two ticks (a "kill the leader" nemesis). */
  leaderKill: number;
  membership: number;
  transfer: number;
  compact: number;
  disrupt: number;
  /** leaderChurn: per election, the chance that the new leader is cut off within a tick. */
  isolateLeader: number;
}

/**
 * How the network is cut: `mixed` draws partitions of every shape; `leaderChurn` instead keeps
 * isolating whoever leads (up to a minority at a time, reconnecting old ones), while clients keep
 * proposing to every node that believes it leads: the nemesis of MIT 6.824's Figure 8 test, which
 * leaves many divergent log suffixes behind. `slowLeader` now and then holds everything sent to
 * the leader for three to five election timeouts and soon after stops what it sends (see
 * faults.ts): late answers of an old term reach a leader deposed without knowing it.
 */
export type Nemesis = 'mixed' | 'leaderChurn' | 'slowLeader';

export interface Profile {
  /** A storm: short, frequent partitions and crashes, so that leaders change while logs diverge. */
  storm: boolean;
  nemesis: Nemesis;
  core: CoreSettings;
  rates: FaultRates;
  /** How long a partition lasts and a crashed member stays down, in ticks. */
  partitionTicks: readonly [number, number];
  downTicks: readonly [number, number];
}

export function drawProfile(rng: Rng): Profile {
  const scale = () => rng.pick([0.5, 1, 1, 2]);
  const nemesis: Nemesis = rng.chance(0.2) ? 'leaderChurn' : rng.chance(0.1) ? 'slowLeader' : 'mixed';
  const storm = nemesis === 'mixed' && rng.chance(0.3);
  const core: CoreSettings = {
    preVote: rng.chance(0.85),
    checkQuorum: rng.chance(0.85),
    // 1 byte means one entry per message; 200 a handful; undefined the core's default (1 MiB).
    // Storms favour small messages and short pipelines: a leader that dies between two
    // acknowledgements leaves logs that differ in the most interesting ways.
    maxSizePerMsg: storm ? rng.pick([1, 1, 60, undefined]) : rng.pick([1, 60, 200, undefined]),
    maxInflightMsgs: storm ? rng.pick([1, 1, 2, 256]) : rng.pick([1, 2, 4, 256]),
  };
  if (storm) {
    return {
      storm,
      nemesis,
      core,
      rates: {
        propose: 1,
        read: rng.pick([0.05, 0.15, 0.3, 3]),
        partition: rng.pick([0.1, 0.2]),
        weather: 0.05,
        stall: 0.02,
        crash: rng.pick([0.03, 0.06]),
        readyCrash: rng.pick([0.002, 0.01]),
        leaderKill: rng.pick([0.1, 0.3]),
        leaderReadyCrash: rng.pick([0.03, 0.1]),
        membership: 0.03,
        transfer: 0.03,
        compact: 0.06,
        disrupt: 0.02,
        isolateLeader: 0,
      },
      partitionTicks: [2, 15],
      downTicks: [1, 10],
    };
  }
  const churn = nemesis === 'leaderChurn';
  return {
    storm,
    nemesis,
    core,
    rates: {
      propose: churn ? 1 : rng.pick([0.3, 0.6, 1]),
      read: rng.pick([0.05, 0.15, 0.3, 3]),
      partition: nemesis === 'mixed' ? 0.03 * scale() : 0,
      weather: 0.03 * scale(),
      stall: 0.01 * scale(),
      crash: 0.012 * scale(),
      readyCrash: rng.pick([0, 0.001, 0.004]),
      leaderKill: rng.pick([0, 0.02]),
      leaderReadyCrash: 0,
      membership: 0.03 * scale(),
      transfer: 0.012 * scale(),
      compact: 0.06 * scale(),
      disrupt: 0.006 * scale(),
      isolateLeader: churn ? rng.pick([0.5, 0.9]) : 0,
    },
    partitionTicks: [3, 50],
    downTicks: [1, 40],
  };
}
