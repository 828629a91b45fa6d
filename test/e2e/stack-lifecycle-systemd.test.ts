// The stack lifecycle suite (stack-lifecycle.test.ts), unchanged, against the systemd backend inside a booted systemd
// 252 (test/helpers/nspawn.ts): down keeps volumes and --volumes --yes deletes only the stack's own, config files and
// their rollback, and a second stack refused for a port or an exclusive volume of the first, each service a unit.
// Its three cases are all the file defines there: its fourth, `niso boot` after a host restart, is the embedded
// backend's (systemd starts the units at boot itself: stack-systemd.test.ts reboots a machine).
import { suiteOnSystemd } from '../helpers/systemd-e2e.js';

suiteOnSystemd('test/e2e/stack-lifecycle.test.ts', 'stack lifecycle', 3);
