// Which unit texts (`content/<hash>`) the engine may delete. A text is written with the unit that
// names it and shared by every unit with the same text; nothing deleted it, so a cluster that
// submits, replaces and destroys units kept every text it ever saw. A text that no unit, no
// placement and no machine's unit state names is garbage, but only once it has stayed unnamed for a grace period: a reader
// that got a unit's hash a moment ago (`fleetctl status`, an agent whose view lags) may still
// fetch its text. The delete itself is guarded by the text's mod revision as the engine saw it,
// so a submit of the same text meanwhile (which writes the key again) keeps it.
import type { RegistrySnapshot } from '../registry/index.js';

export const DEFAULT_CONTENT_GRACE_MS = 60_000;

export class ContentCollector {
  /** Hash -> engine clock when this engine first saw it named by nothing. */
  private readonly unnamedSince = new Map<string, number>();

  constructor(private readonly graceMs = DEFAULT_CONTENT_GRACE_MS) {}

  /**
   * The hashes to delete now, given the registry at `now`. Called once per pass; a hash must be
   * seen unnamed by passes spanning `graceMs` before it is due.
   */
  due(snap: RegistrySnapshot, now: number): string[] {
    const named = new Set<string>();
    for (const u of snap.units.values()) named.add(u.hash);
    for (const p of snap.placements.values()) named.add(p.hash);
    // What a machine reports running (a replaced unit's old text, until it restarts it).
    for (const byMachine of snap.states.values()) for (const st of byMachine.values()) named.add(st.hash);
    for (const hash of this.unnamedSince.keys()) {
      if (named.has(hash) || !snap.contents.has(hash)) this.unnamedSince.delete(hash);
    }
    const out: string[] = [];
    for (const hash of snap.contents.keys()) {
      if (named.has(hash)) continue;
      const since = this.unnamedSince.get(hash);
      if (since === undefined) this.unnamedSince.set(hash, now);
      else if (now - since >= this.graceMs) out.push(hash);
    }
    return out;
  }

  /** A new term starts counting afresh (what a previous leader saw is not known here). */
  reset(): void {
    this.unnamedSince.clear();
  }
}
