import { CdiError } from '../api/errors.ts';

const trueWords = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const falseWords = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/**
 * A boolean worker variable read as CDI's Go workers read it (strconv.ParseBool): the twelve
 * words Go accepts, an unset or empty variable is `fallback`, anything else is refused.
 */
export function envBool(env: NodeJS.ProcessEnv, name: string, fallback = false): boolean {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (trueWords.has(value)) return true;
  if (falseWords.has(value)) return false;
  throw new CdiError('CDI_ERR_WORKER_ENV_BOOL', [name, value]);
}
