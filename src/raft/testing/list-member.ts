// A Raft member holding a ListStateMachine, run as a child process by the runtime's tests (so that
// it can be killed with SIGKILL). Configuration comes as JSON in argv[2]; requests and answers
// travel over the IPC channel as { id, op, ... } / { id, ok, value | error }.
import { RaftNode, type RaftNodeOptions } from '../node/index.js';
import { ListStateMachine } from './list-state-machine.js';

type Request =
  | { id: number; op: 'propose'; value: string }
  | { id: number; op: 'read' }
  | { id: number; op: 'status' }
  | { id: number; op: 'stop' };

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]!) as Omit<RaftNodeOptions, 'stateMachine'>;
  const sm = new ListStateMachine();
  const node = await RaftNode.create({ ...cfg, stateMachine: sm });
  node.on('leader-change', (ev) => process.send?.({ event: 'leader-change', ...ev, at: Date.now() }));
  node.on('snapshot', (index) => process.send?.({ event: 'snapshot', index }));
  await node.start();
  process.on('message', (req: Request) => {
    void (async () => {
      try {
        let value: unknown;
        if (req.op === 'propose') value = await node.propose(Buffer.from(req.value));
        else if (req.op === 'read') {
          await node.readIndex();
          value = sm.items;
        } else if (req.op === 'status') value = { ...node.status(), items: sm.items.length };
        else if (req.op === 'stop') {
          await node.stop();
          process.send?.({ id: req.id, ok: true }, () => process.exit(0));
          return;
        }
        process.send?.({ id: req.id, ok: true, value });
      } catch (err) {
        process.send?.({ id: req.id, ok: false, error: (err as Error).message, code: (err as { code?: string }).code });
      }
    })();
  });
  process.send?.({ event: 'ready', peer: node.peerAddress() });
}

main().catch((err) => {
  process.stderr.write(`list-member: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
});
