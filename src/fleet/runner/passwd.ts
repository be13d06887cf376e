// `User=`: the account a unit's processes run as, from /etc/passwd (a name, or a numeric uid as
// systemd also accepts). Only local accounts: NSS sources (LDAP, sssd) are not consulted.
import { readFileSync } from 'node:fs';

export interface UserAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export const DEFAULT_PASSWD_PATH = '/etc/passwd';

/** The account `user` names, or undefined when the file has none. Throws if the file cannot be read. */
export function lookupUser(user: string, passwdPath: string = DEFAULT_PASSWD_PATH): UserAccount | undefined {
  const numeric = /^[0-9]+$/.test(user) ? Number(user) : undefined;
  for (const line of readFileSync(passwdPath, 'utf8').split('\n')) {
    const fields = line.split(':');
    if (fields.length < 7 || line.startsWith('#')) continue;
    const [name, , uid, gid, , home, shell] = fields as [string, string, string, string, string, string, string];
    const account = { name, uid: Number(uid), gid: Number(gid), home, shell };
    if (!Number.isInteger(account.uid) || !Number.isInteger(account.gid)) continue;
    if (name === user || account.uid === numeric) return account;
  }
  return undefined;
}
