// The registry's key layout under one prefix (default `/flotilla/fleet/`). Everything fleet keeps in
// the store is here, so that `kvctl get --prefix /flotilla/fleet/` shows the whole of it:
//
//   content/<sha256>          the text of a unit file; immutable, shared by every unit with that text
//   unit/<name>               what the operator asked: { name, hash, desired }
//   placement/<name>          where the engine put a non-global unit: { machine, hash, at, engine }
//   machine/<id>              a live machine (bound to its agent's lease)
//   state/<name>/<machine>    what a machine reports of a unit it runs (bound to the same lease)
//   engine/                   the engine's election (one candidate key per fleetd)

export const DEFAULT_PREFIX = '/flotilla/fleet/';

export class RegistryKeys {
  readonly prefix: string;

  constructor(prefix = DEFAULT_PREFIX) {
    this.prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  content(hash: string): string {
    return `${this.prefix}content/${hash}`;
  }
  unit(name: string): string {
    return `${this.prefix}unit/${name}`;
  }
  placement(name: string): string {
    return `${this.prefix}placement/${name}`;
  }
  machine(id: string): string {
    return `${this.prefix}machine/${id}`;
  }
  state(name: string, machine: string): string {
    return `${this.prefix}state/${name}/${machine}`;
  }
  statesOf(name: string): string {
    return `${this.prefix}state/${name}/`;
  }
  get units(): string {
    return `${this.prefix}unit/`;
  }
  get placements(): string {
    return `${this.prefix}placement/`;
  }
  get machines(): string {
    return `${this.prefix}machine/`;
  }
  get states(): string {
    return `${this.prefix}state/`;
  }
  get engine(): string {
    return `${this.prefix}engine/`;
  }

  /** Which record a key holds, or undefined for a key that is not the registry's. */
  parse(key: string): ParsedKey | undefined {
    if (!key.startsWith(this.prefix)) return undefined;
    const rest = key.slice(this.prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) return undefined;
    const kind = rest.slice(0, slash);
    const tail = rest.slice(slash + 1);
    switch (kind) {
      case 'content':
        return { kind, hash: tail };
      case 'unit':
        return { kind, name: tail };
      case 'placement':
        return { kind, name: tail };
      case 'machine':
        return { kind, id: tail };
      case 'state': {
        const i = tail.lastIndexOf('/');
        if (i <= 0) return undefined;
        return { kind, name: tail.slice(0, i), machine: tail.slice(i + 1) };
      }
      case 'engine':
        return { kind };
      default:
        return undefined;
    }
  }
}

export type ParsedKey =
  | { kind: 'content'; hash: string }
  | { kind: 'unit'; name: string }
  | { kind: 'placement'; name: string }
  | { kind: 'machine'; id: string }
  | { kind: 'state'; name: string; machine: string }
  | { kind: 'engine' };
