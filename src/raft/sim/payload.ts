// How the simulator names what it puts in the log. Every client proposal carries a unique ASCII
// payload ("p<id>", sometimes padded so message size limits bite), so an entry is identified by
// its term and payload and a trace line can say which proposal it was.
import { decodeConfChange } from '../confchange.js';
import { ConfChangeType, EntryType, type ConfChange, type Entry } from '../types.js';

export function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0x7f;
  return out;
}

export function fromAscii(data: Uint8Array): string {
  let s = '';
  for (let i = 0; i < data.length; i++) s += String.fromCharCode(data[i]!);
  return s;
}

/** "p<id>" for client proposals; the endgame's proposals are "f<id>" so that they can be recognised when applied. */
export function proposalPayload(id: number, padding: number, prefix: 'p' | 'f' = 'p'): Uint8Array {
  return ascii(`${prefix}${id}${padding > 0 ? '.'.repeat(padding) : ''}`);
}

const CC_NAMES: Record<ConfChangeType, string> = {
  [ConfChangeType.AddVoter]: 'voter',
  [ConfChangeType.AddLearner]: 'learner',
  [ConfChangeType.RemoveNode]: 'remove',
};

export function describeConfChange(cc: ConfChange): string {
  return `${CC_NAMES[cc.type] ?? `type${cc.type}`}(${cc.nodeId})`;
}

/** The entry without its term: "" for a leader's no-op, the payload, or the membership change. */
export function entryBody(e: Entry): string {
  if (e.type === EntryType.ConfChange) {
    const cc = confChangeOf(e);
    return cc ? `cc:${describeConfChange(cc)}:${fromAscii(cc.context)}` : `cc:undecodable:${fromAscii(e.data)}`;
  }
  if (e.type !== EntryType.Normal) return `type${e.type as number}:${fromAscii(e.data)}`;
  return fromAscii(e.data);
}

/** What identifies an entry across nodes: two entries are the same entry when their keys are equal. */
export function entryKey(e: Entry): string {
  return `${e.term}:${entryBody(e)}`;
}

export function termOfKey(key: string): number {
  return parseInt(key, 10);
}

/** Decodes the membership change of a ConfChange entry, or undefined if it is not one (or is garbled). */
export function confChangeOf(e: Entry): ConfChange | undefined {
  if (e.type !== EntryType.ConfChange) return undefined;
  try {
    return decodeConfChange(e.data);
  } catch {
    return undefined;
  }
}

/** The state machine's snapshot: its applied list, one entry key per log index from 1. */
export function encodeAppliedList(keys: readonly string[]): Uint8Array {
  return ascii(JSON.stringify(keys));
}

export function decodeAppliedList(data: Uint8Array): string[] {
  const parsed: unknown = JSON.parse(fromAscii(data));
  if (!Array.isArray(parsed) || !parsed.every((k) => typeof k === 'string')) {
    throw new Error('sim: snapshot data is not an applied list');
  }
  return parsed as string[];
}
