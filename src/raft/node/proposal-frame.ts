// Every proposal travels in the log with a small header naming the member that proposed it and a
// sequence number, so that when the entry is applied anywhere, the member holding the caller's
// promise can recognise its own proposal and settle it with the result.

const HEADER = 16;

export interface ProposalHeader {
  origin: number;
  seq: number;
}

export function frameProposal(origin: number, seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  const view = new DataView(out.buffer);
  view.setFloat64(0, origin);
  view.setFloat64(8, seq);
  out.set(payload, HEADER);
  return out;
}

/** Splits an entry's data into header and payload; undefined for data that is not a framed proposal (the no-op). */
export function unframeProposal(data: Uint8Array): { header: ProposalHeader; payload: Uint8Array } | undefined {
  if (data.length < HEADER) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, HEADER);
  return { header: { origin: view.getFloat64(0), seq: view.getFloat64(8) }, payload: data.subarray(HEADER) };
}
