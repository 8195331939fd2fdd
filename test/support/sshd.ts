import { execFileSync } from 'node:child_process';
import { findSshd } from '../../devstack/sshd';

export { startSshd, type TestSshd } from '../../devstack/sshd';

/**
 * Finds sshd, installing the Debian package openssh-server when it is missing and we are root
 * (the test setup may; it says so). Returns the path, or why there is none (the caller skips).
 */
export function findOrInstallSshd(
  log: (line: string) => void = (line) => process.stderr.write(`# ${line}\n`),
): { path: string } | { skip: string } {
  const found = findSshd();
  if (found) return { path: found };
  if (process.getuid?.() !== 0)
    return { skip: 'sshd is not installed and the tests are not root (apt-get install openssh-server)' };
  try {
    log('sshd missing: installing the Debian package openssh-server');
    execFileSync('apt-get', ['install', '-y', 'openssh-server'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch {
    try {
      execFileSync('apt-get', ['update'], { stdio: 'ignore' });
      execFileSync('apt-get', ['install', '-y', 'openssh-server'], {
        stdio: 'ignore',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    } catch (error) {
      return { skip: `openssh-server could not be installed: ${(error as Error).message.split('\n')[0]}` };
    }
  }
  const installed = findSshd();
  return installed ? { path: installed } : { skip: 'openssh-server installed but no sshd found' };
}
