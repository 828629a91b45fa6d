// The data-across-generations suite (switch-data.test.ts), unchanged, against the systemd backend inside a booted
// systemd 252 (test/helpers/nspawn.ts): snapshots before an upgrade, rollback with and without --with-data, and the
// SIGKILL inside a restore and after the old version ran on the restored data, each service a unit.
import { suiteOnSystemd } from '../helpers/systemd-e2e.js';

suiteOnSystemd('test/e2e/switch-data.test.ts', 'data', 4);
