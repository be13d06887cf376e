// Majority arithmetic over a set of voters. Learners never appear here.
import type { NodeId } from './types.js';

export enum VoteResult {
  Pending = 0,
  Won = 1,
  Lost = 2,
}

/** The highest index that a majority of `voters` have durably matched. */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[Math.floor(voters.length / 2)]!;
}

export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** Whether `ids` hold a majority of `voters` (ids that are not voters do not count). */
export function isQuorum(voters: readonly NodeId[], ids: ReadonlySet<NodeId>): boolean {
  if (voters.length === 0) return true;
  let n = 0;
  for (const id of voters) if (ids.has(id)) n++;
  return n >= majority(voters.length);
}

/** Tallies `votes` (granted or rejected, by voter) among `voters`; votes from non-voters do not count. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return VoteResult.Won;
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return VoteResult.Won;
  if (voters.length - rejected < need) return VoteResult.Lost;
  return VoteResult.Pending;
}
