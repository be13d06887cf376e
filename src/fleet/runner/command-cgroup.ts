// A cgroup (version 2) per command, where the agent may make one: what systemd does for a unit.
// A process cannot leave its cgroup by itself (only a writer of cgroup.procs moves it), whatever it
// does to its session, its process group or its environment, so the cgroup finds the processes the
// environment mark (marked-processes.ts) misses: one that starts a program with an empty
// environment (`env -i`). The cgroup is used for membership only; no controller is enabled.
//
// The command is born in the cgroup, with no window in which it could fork outside: the agent moves
// itself into the new cgroup, spawns the command (a child starts in its parent's cgroup) and moves
// itself back, all in one synchronous step. Node's spawn() offers no way to start a child in another
// cgroup (clone3's CLONE_INTO_CGROUP), and a wrapper that moves itself before exec would turn a
// failed exec into a shell's exit status.
//
// Where cgroup2 is not mounted, or the agent may not write to its own cgroup (not root, a
// read-only /sys/fs/cgroup, a systemd service without Delegate=yes), commands run without one and
// the environment mark is all there is. FLOTILLA_UNIT_CGROUPS=0 turns cgroups off.
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

/** Where cgroup2 is mounted (read once: mounts do not move under a running agent); null when nowhere. */
let cgroup2Mount: string | null | undefined;

function findCgroup2Mount(): string | null {
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      // "<id> <parent> <dev> <root> <mount point> <options> [optional...] - <fstype> <source> <super options>"
      const dash = line.indexOf(' - ');
      if (dash < 0 || !line.startsWith('cgroup2 ', dash + 3)) continue;
      const fields = line.slice(0, dash).split(' ');
      if (fields[3] !== '/') continue; // a bind mount of a subtree: paths in /proc/self/cgroup are not relative to it
      return unescapeMountPath(fields[4]!);
    }
  } catch {
    // no /proc: no cgroups either
  }
  return null;
}

/**
 * The directory this process's own cgroup has in the cgroup2 hierarchy; undefined when there is
 * none. The cgroup itself is read each time: a supervisor may move the agent.
 */
export function ownCgroupDir(): string | undefined {
  if (cgroup2Mount === undefined) cgroup2Mount = findCgroup2Mount();
  const mount = cgroup2Mount;
  if (mount === null) return undefined;
  try {
    const own = readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    if (own === undefined) return undefined;
    const path = own.slice(3);
    return path === '/' ? mount : mount + path;
  } catch {
    return undefined;
  }
}

/** mountinfo writes space, tab, newline and backslash in paths as octal escapes. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The cgroup the command cgroups go below (this process's own); undefined when they are off or impossible. */
function commandCgroupParent(): string | undefined {
  return process.env.FLOTILLA_UNIT_CGROUPS === '0' ? undefined : ownCgroupDir();
}

export class CommandCgroup {
  private removed = false;

  private constructor(
    /** The cgroup's directory. */
    readonly dir: string,
  ) {}

  /**
   * Runs `spawn` with this process inside a new cgroup named `name` under its own, so that the
   * child it starts is born there, and moves this process back before returning. Returns the
   * child with its cgroup, or with none when no cgroup could be made (then nothing was moved).
   */
  static spawnInto<T>(name: string, spawn: () => T): { child: T; cgroup: CommandCgroup | undefined } {
    const parent = commandCgroupParent();
    if (parent === undefined) return { child: spawn(), cgroup: undefined };
    const dir = `${parent}/${name}`;
    if (!enterNew(dir)) return { child: spawn(), cgroup: undefined };
    let child: T;
    try {
      child = spawn();
    } finally {
      // Moving back into the cgroup we came from cannot fail for lack of rights: we just wrote to
      // a descendant of it, and the kernel checks the common ancestor. If it did fail, the agent
      // would stay in the command's cgroup and be killed with it, so that is fatal.
      writeFileSync(`${parent}/cgroup.procs`, String(process.pid));
    }
    return { child, cgroup: new CommandCgroup(dir) };
  }

  /** The cgroup's path in the cgroup2 hierarchy, as /proc/<pid>/cgroup and systemctl status show it. */
  get path(): string {
    const mount = cgroup2Mount ?? '';
    return this.dir.startsWith(`${mount}/`) ? this.dir.slice(mount.length) : this.dir;
  }

  /** The pids in the cgroup (processes that have exited, zombies included, are not). */
  pids(): number[] {
    let text: string;
    try {
      text = readFileSync(`${this.dir}/cgroup.procs`, 'latin1');
    } catch {
      return [];
    }
    const out: number[] = [];
    for (const line of text.split('\n')) if (line !== '') out.push(Number(line));
    return out;
  }

  /** Whether any process of the cgroup, or of a cgroup below it, is running. */
  populated(): boolean {
    try {
      return /(^|\n)populated 1/.test(readFileSync(`${this.dir}/cgroup.events`, 'latin1'));
    } catch {
      return false;
    }
  }

  /**
   * Sends `signal` to every process in the cgroup. SIGKILL goes through cgroup.kill where the
   * kernel has it (5.14), which also reaches a process forked while the signals are being sent.
   */
  signal(signal: NodeJS.Signals): void {
    if (signal === 'SIGKILL') {
      try {
        writeFileSync(`${this.dir}/cgroup.kill`, '1');
        return;
      } catch {
        // an older kernel: one by one
      }
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, signal);
      } catch {
        // exited meanwhile
      }
    }
  }

  /** Removes the cgroup once it is empty; false (and it stays) while something still runs in it. */
  remove(): boolean {
    if (this.removed) return true;
    this.removed = tryRemove(this.dir);
    return this.removed;
  }
}

/** The prefix of every command cgroup's name (spawned-command.ts adds the unit's name and the start of the fence id). */
export const COMMAND_CGROUP_PREFIX = 'flotilla-';

/** The file system calls enterNew makes: a seam, so that a test can drive its race with another agent's sweep. */
export interface CgroupFs {
  mkdirSync(dir: string): void;
  writeFileSync(path: string, data: string): void;
  rmdirSync(dir: string): void;
}

const realFs: CgroupFs = {
  mkdirSync: (dir) => void mkdirSync(dir),
  writeFileSync: (path, data) => writeFileSync(path, data),
  rmdirSync: (dir) => rmdirSync(dir),
};

/**
 * Makes cgroup `dir` and moves this process into it; false (and nothing moved) when either fails.
 * Another agent sharing the parent cgroup may sweep the new cgroup away while it is still empty,
 * between the two steps: then it is made once more.
 */
export function enterNew(dir: string, fs: CgroupFs = realFs): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.mkdirSync(dir);
    } catch {
      return false;
    }
    try {
      fs.writeFileSync(`${dir}/cgroup.procs`, String(process.pid));
      return true;
    } catch (err) {
      tryRemove(dir, fs);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    }
  }
  return false;
}

/**
 * Removes the command cgroups below this process's own cgroup that nothing runs in, and returns
 * their names. They are left behind when a command's watchdog could not remove its cgroup: the
 * watchdog itself killed (a whole process tree killed at once), or a process that took longer than
 * the watchdog's five seconds to die. The kernel refuses to remove a cgroup with a process in it
 * (EBUSY), so another agent's running commands in the same parent keep theirs.
 */
export function sweepEmptyCommandCgroups(): string[] {
  const parent = commandCgroupParent();
  if (parent === undefined) return [];
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith(COMMAND_CGROUP_PREFIX));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    try {
      rmdirSync(`${parent}/${name}`);
      removed.push(name);
    } catch {
      // populated (EBUSY), gone meanwhile (ENOENT), or not ours to remove (EACCES): left as it is
    }
  }
  return removed;
}

function tryRemove(dir: string, fs: CgroupFs = realFs): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
