// How a failed init step is told (NISO3315), the same on both backends: apart from init-step.ts, which runs the step in a
// sandbox, so that the systemd backend's verbs that only report one do not load the sandbox's code (issue 17).
import { NisoError } from '../errors/niso-error.js';

export const timedOutText = (timeoutMs: number) => `did not end within its timeout (${Math.round(timeoutMs / 1000)}s) and was killed`;

/** NISO3315, the same words on every backend: the step, how it ended, that `what` (the service, the app) did not start, and its last output. */
export function initStepFailed(service: string, argv: readonly string[] | undefined, how: string, output: string, what: 'the service' | 'the app'): NisoError {
  return new NisoError('NISO3315', `${service}: the init step${argv ? ` (${argv.join(' ')})` : ''} ${how}; ${what} was not started${output ? `. Its last output:\n${output}` : ''}`, {
    hint: what === 'the app' ? 'its output is above; fix what it says and run again' : `fix what it says, then \`niso activate ${service}\` again; \`niso logs ${service}\` has all of its output`,
  });
}
