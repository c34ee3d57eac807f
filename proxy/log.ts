/**
 * CHP's log format on stdout (winston, lib/log.js): `<ISO time> [ConfigProxy] <level>: <message>`,
 * printf-style arguments, level coloured like winston's colorize() (NO_COLOR=1 turns that off). Tools (and CHP's cli tests) wait for exact message texts, so the proxy
 * keeps CHP's wording; a hub embedding the proxy can pass its own logger instead.
 */
import { format } from 'node:util';

export type LogFn = (msg: string, ...args: unknown[]) => void;

export interface ProxyLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
// winston's colorize() output, which CHP prints even when stdout is not a TTY
const COLORS = { error: 31, warn: 33, info: 32, debug: 34 } as const;
export type LogLevel = keyof typeof LEVELS;

export function defaultLogger(
  level: string = 'info',
  write: (line: string) => void = (line) => process.stdout.write(line),
  color = !process.env.NO_COLOR,
): ProxyLogger {
  const max = LEVELS[(level.toLowerCase() as LogLevel)] ?? LEVELS.info;
  const make =
    (name: LogLevel): LogFn =>
    (msg, ...args) => {
      if (LEVELS[name] > max) return;
      const lvl = color ? `\x1b[${COLORS[name]}m${name}\x1b[39m` : name;
      write(`${new Date().toISOString()} [ConfigProxy] ${lvl}: ${format(msg, ...args)}\n`);
    };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}

export const silentLogger: ProxyLogger = { debug() {}, info() {}, warn() {}, error() {} };
