// Lifecycle lines: info to stdout, errors to stderr, as set by `log_level`.
export type LogLevel = 'info' | 'error' | 'silent';

export class Log {
  level: LogLevel = 'info';

  info(line: string): void {
    if (this.level === 'info') process.stdout.write(`[tcp-prefork] ${line}\n`);
  }

  error(line: string): void {
    if (this.level !== 'silent') process.stderr.write(`[tcp-prefork] ${line}\n`);
  }
}
