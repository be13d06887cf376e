// Typed errors of the Raft storage. Each has a stable `code`, an HTTP status for front ends that
// surface them, and a message that names the directory, key or file involved.

export class StorageError extends Error {
  readonly code: string;
  readonly httpStatus: number;

  constructor(code: string, message: string, options?: { cause?: unknown; httpStatus?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = options?.httpStatus ?? 500;
  }
}

/** Another process (or another RaftStorage in this process) holds the data directory's LevelDB LOCK. */
export class DataDirLockedError extends StorageError {
  readonly dir: string;
  constructor(dir: string, cause?: unknown) {
    super('DATA_DIR_LOCKED', `data directory ${dir} is in use by another process (LOCK held)`, {
      cause,
      httpStatus: 503,
    });
    this.dir = dir;
  }
}

/** The data directory could not be opened for a reason other than the lock (permissions, disk, ...). */
export class StorageOpenError extends StorageError {
  readonly dir: string;
  constructor(dir: string, detail: string, cause?: unknown) {
    super('STORAGE_OPEN_FAILED', `cannot open data directory ${dir}: ${detail}`, { cause });
    this.dir = dir;
  }
}

/** A stored value or snapshot file is unreadable or inconsistent. `where` names the key or file. */
export class StorageCorruptError extends StorageError {
  readonly where: string;
  constructor(where: string, detail: string, cause?: unknown) {
    super('STORAGE_CORRUPT', `corrupt raft storage at ${where}: ${detail}`, { cause });
    this.where = where;
  }
}

/** The caller asked for something the Raft log does not allow (a gap, a stale snapshot, ...). */
export class StorageUsageError extends StorageError {
  constructor(message: string) {
    super('STORAGE_BAD_REQUEST', message);
  }
}

/** A snapshot at or below the current snapshot's index. */
export class SnapshotOutOfDateError extends StorageError {
  constructor(index: number, current: number) {
    super('SNAPSHOT_OUT_OF_DATE', `snapshot at index ${index} is not newer than the stored snapshot at index ${current}`);
  }
}

/** Entries below the first stored index were compacted away. */
export class LogCompactedError extends StorageError {
  constructor(index: number, first: number) {
    super('LOG_COMPACTED', `log entry ${index} was compacted (first stored index is ${first})`);
  }
}

/** The storage was closed, or a synced write failed earlier and the on-disk state is unknown. */
export class StorageClosedError extends StorageError {
  constructor(dir: string, reason: string, cause?: unknown) {
    super('STORAGE_CLOSED', `raft storage ${dir} is not usable: ${reason}`, { cause });
  }
}
