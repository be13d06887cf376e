export { Session, ConcurrencyError, type SessionOptions } from './session.js';
export { Mutex, type LockOptions } from './mutex.js';
export { Election, type ElectionCallOptions } from './election.js';
