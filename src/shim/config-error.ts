/** A configuration the daemon refuses (exit 2), with the file and key named; apart from `config.ts` so its key modules need no import back. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
