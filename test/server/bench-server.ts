// Benchmark server (not a test): the HTTP front end over the fake in-memory service, on 127.0.0.1.
//   node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs test/server/bench-server.ts [port]
// Prints "ready <port> <pid>" when it listens; stops on SIGTERM/SIGINT.
import { pino } from 'pino';
import { listenHttp } from '../../src/server/http/index.js';
import { FakeKvService } from './fake-service.js';

const svc = new FakeKvService();
const srv = await listenHttp(svc, { host: '127.0.0.1', port: Number(process.argv[2] ?? 0), logger: pino({ level: 'silent' }) });
process.stdout.write(`ready ${srv.address.port} ${process.pid}\n`);
const stop = (): void => {
  void srv.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
