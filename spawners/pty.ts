/** A command on a pseudo-terminal (node-pty) as a TerminalSession, for spawners' terminal(). */
import type { TerminalSession } from './spawner.js';

export async function ptySession(file: string, args: string[], opts: { cols: number; rows: number; cwd?: string; env: Record<string, string> }): Promise<{ session: TerminalSession; pid: number }> {
  const pty = await import('node-pty');
  const proc = pty.spawn(file, args, { name: 'xterm-256color', cols: opts.cols, rows: opts.rows, cwd: opts.cwd, env: { ...opts.env, TERM: 'xterm-256color' } });
  const session: TerminalSession = {
    write: (data) => proc.write(data),
    resize: (cols, rows) => proc.resize(Math.max(1, cols), Math.max(1, rows)),
    onData: (cb) => void proc.onData(cb),
    onExit: (cb) => void proc.onExit(({ exitCode }) => cb(exitCode)),
    close: () => {
      try {
        proc.kill('SIGHUP');
      } catch {
        /* already gone */
      }
    },
  };
  return { session, pid: proc.pid };
}
