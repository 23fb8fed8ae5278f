/** The ConfigError loadConfig throws for a configuration (failing the test when it throws none, or another error). */
import { expect } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

export function configError(options: Parameters<typeof loadConfig>[0]): ConfigError {
  try {
    loadConfig(options);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

/** configError for a configuration given by MIRROR_* variables alone. */
export const configErrorOfEnv = (env: Record<string, string>): ConfigError => configError({ env });
