#!/usr/bin/env node
// kvctl: etcdctl's commands for kvd (and etcd 3.4). Everything is in src/kvctl; see docs/kvctl.md.
import { run, runAsProcess } from '../src/kvctl/index.js';

await runAsProcess(run);
