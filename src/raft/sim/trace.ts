// One-line descriptions of messages and Readies, for the replay trace of a failing seed.
import { MessageType, Role, type Entry, type Message, type Ready } from '../types.js';
import { entryBody } from './payload.js';

function range(ents: readonly Entry[]): string {
  if (ents.length === 0) return '';
  const first = ents[0]!;
  const last = ents[ents.length - 1]!;
  const bodies = ents.length <= 3 ? ` ${ents.map((e) => `${e.term}:${entryBody(e) || 'noop'}`).join(',')}` : '';
  return first === last ? `[${first.index}${bodies}]` : `[${first.index}..${last.index}${bodies}]`;
}

export function describeMessage(m: Message): string {
  let s = `${MessageType[m.type]} ${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case MessageType.App:
      s += ` prev ${m.index}/t${m.logTerm} ents ${range(m.entries) || '[]'} commit ${m.commit}`;
      break;
    case MessageType.AppResp:
      s += m.reject ? ` REJECT ${m.index} hint ${m.rejectHint}/t${m.logTerm}` : ` ok ${m.index}`;
      break;
    case MessageType.Vote:
    case MessageType.PreVote:
      s += ` last ${m.index}/t${m.logTerm}${m.context ? ' transfer' : ''}`;
      break;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      s += m.reject ? ' REJECT' : ' GRANT';
      break;
    case MessageType.Heartbeat:
      s += ` commit ${m.commit}${m.context ? ` read ${m.context}` : ''}`;
      break;
    case MessageType.HeartbeatResp:
      if (m.context) s += ` read ${m.context}`;
      break;
    case MessageType.Snap:
      s += ` snapshot ${m.snapshot?.meta.index}/t${m.snapshot?.meta.term} voters [${m.snapshot?.meta.confState.voters}]`;
      break;
    case MessageType.Prop:
    case MessageType.PropDropped:
      s += ` ${range(m.entries)}`;
      break;
    case MessageType.ReadIndex:
    case MessageType.ReadIndexResp:
      s += ` read ${m.context} index ${m.index}`;
      break;
  }
  return s;
}

export function describeReady(rd: Ready): string {
  const parts: string[] = [];
  if (rd.softState) parts.push(`${Role[rd.softState.role]} lead ${rd.softState.leader}`);
  if (rd.hardState) parts.push(`hs(t${rd.hardState.term} v${rd.hardState.vote} c${rd.hardState.commit})`);
  if (rd.snapshot) parts.push(`snapshot ${rd.snapshot.meta.index}/t${rd.snapshot.meta.term}`);
  if (rd.entries.length) parts.push(`persist ${range(rd.entries)}`);
  if (rd.committedEntries.length) parts.push(`apply ${range(rd.committedEntries)}`);
  if (rd.readStates.length) parts.push(`reads ${rd.readStates.map((r) => `${r.context}@${r.index}`).join(',')}`);
  if (rd.messages.length) parts.push(`send ${rd.messages.length}`);
  return parts.join(' ');
}
