// The switch suite (switch.test.ts), unchanged, against the systemd backend inside a booted systemd 252
// (test/helpers/nspawn.ts): the upgrade in place and rollback, SafeSwitch, no-op and ports-only switches, and the SIGKILL
// at the journal line after the new version started, each service a unit.
import { suiteOnSystemd } from '../helpers/systemd-e2e.js';

suiteOnSystemd('test/e2e/switch.test.ts', 'switch', 4);
