// An AbortController that aborts when any of the given signals does, with the listeners removed
// by dispose(). AbortSignal.any would do the first half, but it keeps every derived signal
// reachable from a long-lived one (a client's closing signal, a member's leader term) in Node 20.

export interface LinkedAbort {
  readonly controller: AbortController;
  readonly signal: AbortSignal;
  /** Removes the listeners from the given signals (the controller itself stays as it is). */
  dispose(): void;
}

export function linkedAbort(...signals: (AbortSignal | undefined)[]): LinkedAbort {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  const linked = signals.filter((s): s is AbortSignal => s !== undefined);
  for (const s of linked) {
    if (s.aborted) controller.abort();
    else s.addEventListener('abort', abort, { once: true });
  }
  return {
    controller,
    signal: controller.signal,
    dispose: () => {
      for (const s of linked) s.removeEventListener('abort', abort);
    },
  };
}
