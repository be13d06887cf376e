// The two ways a unit can be refused: its file says something wrong (where, and what), or its name
// is not a unit name. Both carry what a user needs to find the mistake without reading our code.

/**
 * A mistake in a unit file. `line` is 1-based; 0 when the problem is the file as a whole (too big,
 * a bad name), and then the message has no line part: `hello.service: <reason>`.
 */
export class UnitFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
    this.name = 'UnitFileError';
  }
}

/** A string that is not a valid unit name (or not the kind asked for: template, instance). */
export class UnitNameError extends Error {
  constructor(
    readonly unitName: string,
    readonly reason: string,
  ) {
    super(`invalid unit name ${JSON.stringify(unitName)}: ${reason}`);
    this.name = 'UnitNameError';
  }
}
