// The full command line: every command and its options, declared with commander and loaded only when a command
// line needs parsing (main.ts runs the plain read commands without it: commander and these declarations cost
// about as much as the work of `niso status`, issue 17). Each command's implementation loads when it runs.
import { Command, CommanderError, Option } from 'commander';
import { NisoError } from '../errors/niso-error.js';
import type { Context } from './context.js';
import { VERSION } from './version.js';
import { UNIT_COMMANDS } from './unit-commands.js';

const collect = (value: string, previous: string[]) => [...previous, value];

function buildProgram(ctx: Context): Command {
  const program = new Command('niso')
    .description('Run server applications on Linux: deterministic app packages, strict sandboxes, no daemon.')
    .version(VERSION, '-V, --version', 'print the niso version')
    .showSuggestionAfterError(true)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s), outputError: () => undefined });
  program.addHelpText('after', '\nEnvironment:\n  NISO_ROOT   relocate all of niso\'s state below this directory (default /)\n\nRun `niso explain CODE` for what an error code means.');

  program.command('init')
    .description('write a manifest.toml (and a tiny example app) into a directory')
    .argument('[dir]', 'directory to write into', '.')
    .addOption(new Option('-t, --template <name>', 'app template').choices(['node', 'python', 'rust', 'go', 'binary']).default('node'))
    .option('-n, --name <name>', 'package name (default: the directory name)')
    .option('-f, --force', 'overwrite existing files')
    .option('--json', 'print the written files as JSON')
    .action(async (dir: string, opts) => (await import('./commands/init.js')).run(ctx, dir, opts));

  program.command('pack')
    .description('turn an app directory into a deterministic NAME-VERSION-ARCH.niso package')
    .argument('[dir]', 'app directory containing manifest.toml', '.')
    .option('-b, --binary <path>', 'add this executable to the package at the entrypoint\'s path (bin/<name> when the entrypoint is a runtime command)')
    .option('--deb-cache <dir>', '[debian]: where downloaded .debs are kept between packs (default: $NISO_DEB_CACHE, else /var/cache/niso/debs below NISO_ROOT)')
    .option('-o, --output <file>', 'where to write the package (default: NAME-VERSION-ARCH.niso in the current directory)')
    .option('--json', 'print the result as JSON')
    .option('-q, --quiet', 'print only the package digest')
    .option('--sign', 'sign the package (FILE.niso.sig); an error without a key. Default: sign when a key is configured')
    .option('--no-sign', 'do not sign, even with a key configured')
    .option('--sign-key <file>', 'sign with this key (default: $NISO_SIGNING_KEY, else /etc/niso/signing.key when it exists)')
    .action(async (dir: string, opts) => (await import('./commands/pack.js')).run(ctx, dir, opts));

  // The sandbox's options, shared by run and activate (like docker run's).
  const sandboxOptions = (c: Command) => c
    .option('--name <service>', 'service name (default: the package name); it owns the uid, state dir and network name')
    .option('-e, --env <NAME=value>', 'set an environment variable (repeatable)', collect, [])
    .option('--env-file <file>', 'read NAME=value lines from a file (repeatable)', collect, [])
    .addOption(new Option('--preset <preset>', 'isolation preset').choices(['server', 'strict', 'unsafe-none']))
    .option('-m, --memory <size>', 'memory limit, e.g. 512M')
    .option('--cpus <n>', 'CPU limit in cores, e.g. 0.5')
    .option('--pids <n>', 'limit on processes and threads')
    .option('--state-size <size>', 'size limit of /state, e.g. 1G (default: the manifest\'s state_size, or [state] max_size in /etc/niso/config.toml, 10G)')
    .addOption(new Option('--network <mode>', 'network mode').choices(['private', 'none', 'host']))
    .option('-p, --publish <[ip:]host:container[/proto]>', 'map a host port to the app (repeatable; network private)', collect, [])
    .option('--net <network>', 'join this niso network instead of the manifest\'s (repeatable)', collect, [])
    .option('--cap-add <CAP_NAME>', 'grant a capability, or allow the one the manifest asks for (repeatable; systemd backend only)', collect, [])
    .option('--allow-syscall <name>', 'let a system call or @group through the filter, or allow the manifest\'s (repeatable)', collect, [])
    .option('-v, --volume <src:dst[:ro]>', 'mount a volume (NAME:/path, made on first use) or a host path (/srv/x:/path) (repeatable)', collect, [])
    .option('--mount <type=volume|bind,src=,dst=[,readonly]>', 'mount a volume or host path, Docker\'s long form; also `exclusive` (repeatable)', collect, [])
    .option('--config <NAME=FILE|FILE:/path>', 'copy a config file into the service and mount it read-only (repeatable)', collect, [])
    .option('--secret <NAME[,target=PATH]>', 'mount a secret (`niso secret create`) read-only at /run/secrets/NAME or PATH, or allow the manifest\'s (repeatable)', collect, [])
    .option('--entrypoint <PROGRAM>', 'run this program of the package (or of its runtime) instead of the manifest\'s entrypoint, without the manifest\'s args, like `docker run --entrypoint`');

  // What every verb that switches generations takes (src/generation/switch.ts).
  const switchFlags = (c: Command) => c
    .option('--dry-run', 'print what would stop, start, restart, update or stay, and change nothing')
    .option('--no-gate', 'commit without SafeSwitch (no waiting for started services to be healthy and stay so)')
    .option('--settle <duration>', 'SafeSwitch: how long started services must stay healthy, with no restart (default 5s)')
    .option('--snapshot-copy', 'snapshot the volumes of stopped writers with a full copy where the file system has no cheap method, however large')
    .option('--no-snapshot', 'take no snapshots of volumes before writers stop (and no data is restorable for this switch)');

  sandboxOptions(program.command('run')
    .description('run a package in the foreground in its sandbox, like `docker run --rm`; or a command against a service, like `docker compose run --rm SERVICE CMD`')
    .argument('<ref>', 'NAME[:VERSION], a FILE.niso, or an app DIR (packed on the fly); or an existing SERVICE (a one-off of it, with its definition, uid, volumes and networks)')
    .argument('[args...]', 'arguments for the app, after --; they replace the manifest\'s args. For a SERVICE: the program of its package to run, and its arguments'))
    .option('--dry-run', 'print the plan and the exact command instead of running it')
    .option('--json', 'print the plan and the command as JSON instead of running it')
    .addOption(new Option('--backend <backend>', 'who runs it: a transient systemd unit (default where systemd is PID 1, or [services] backend) or bubblewrap (embedded)').choices(['embedded', 'systemd']))
    // Options are niso's wherever they stand (`niso run hello -p 8080:3000`), as with activate;
    // only what follows "--" is the app's.
    .action(async (ref: string, args: string[], opts) => (await import('./commands/run.js')).run(ctx, ref, args, opts));

  sandboxOptions(program.command('activate')
    .description('start a package as a service that keeps running, like `docker run -d`')
    .argument('<ref>', 'NAME[:VERSION] or a FILE.niso to run; or the name of an inactive service to start again')
    .argument('[args...]', 'arguments for the app, after --; they replace the manifest\'s args'))
    .option('--restart <policy>', 'no, on-failure[:MAX_RETRIES], always or unless-stopped (default: the manifest\'s)')
    .option('--wait', 'return once the service is healthy (or fail with the reason)')
    .option('--timeout <duration>', 'with --wait: how long to wait (default 60s)')
    .option('--log-max-size <size>', 'size of one log file before it is rotated (default 10M, or [logs] max_size in /etc/niso/config.toml)')
    .option('--log-files <n>', 'log files kept, the current one included (default 3, or [logs] files)')
    .addOption(new Option('--backend <backend>', 'who runs the service: systemd units (default where systemd is PID 1, or [services] backend) or niso\'s embedded supervisor').choices(['embedded', 'systemd']))
    .option('--json', 'print the service\'s status as JSON');
  switchFlags(program.commands.at(-1)!)
    .action(async (ref: string, args: string[], opts) => (await import('./commands/service.js')).activate(ctx, ref, args, opts));

  switchFlags(program.command('deactivate').alias('stop')
    .description('stop services: stop signal, stop timeout, then SIGKILL; their network and cgroup are removed')
    .argument('<services...>', 'service names')
    .option('--json', 'print how each one ended as JSON'))
    .action(async (names: string[], opts) => (await import('./commands/service.js')).deactivate(ctx, names, opts));

  program.command('restart')
    .description('stop services if they run and start them again')
    .argument('<services...>', 'service names')
    .option('--json', 'print their status as JSON')
    .action(async (names: string[], opts) => (await import('./commands/service.js')).restart(ctx, names, opts));

  program.command('status').alias('ps')
    .description('show services: state, health, pid, uptime, restarts, ports')
    .argument('[services...]', 'service names (default: all)')
    .option('--json', 'print as JSON')
    .action(async (names: string[], opts) => (await import('./commands/status.js')).status(ctx, names, opts));

  program.command('logs')
    .description('show services\' output (stdout and stderr), like `docker logs`; several services are prefixed')
    .argument('[services...]', 'service names (default: all)')
    .option('-f, --follow', 'keep printing new output until interrupted')
    .option('--since <time>', 'only output from this time on: a duration back from now (10m, 1h30m, 2d) or a date and time')
    .option('--until <time>', 'only output before this time (same forms as --since)')
    .option('-n, --tail <n>', 'only the last N lines of each service ("all" for everything)')
    .option('-t, --timestamps', 'show when each line was written (~ marks times niso could only estimate)')
    .option('--json', 'one JSON object per line')
    .action(async (names: string[], opts) => (await import('./commands/logs.js')).run(ctx, names, opts));

  program.command('exec')
    .description('run a command inside a running service\'s sandbox, like `docker exec`')
    .argument('<service>', 'service name')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-i, --interactive', 'pass stdin on to the command')
    .option('-t, --tty', 'give the command a fresh pseudo-terminal')
    .option('-e, --env <NAME=value>', 'set an environment variable for the command (repeatable)', collect, [])
    .action(async (name: string, command: string[], opts) => (await import('./commands/exec.js')).run(ctx, name, command, opts));

  program.command('stats')
    .description('live CPU, memory, network, block I/O and pids of services, like `docker stats`')
    .argument('[services...]', 'service names (default: every running one)')
    .option('--no-stream', 'print one table and exit')
    .option('--json', 'print one sample as JSON')
    .action(async (names: string[], opts) => (await import('./commands/stats.js')).stats(ctx, names, opts));

  program.command('top')
    .description('list the processes of a service, like `docker top`')
    .argument('<service>', 'service name')
    .option('--json', 'print as JSON')
    .action(async (name: string, opts) => (await import('./commands/stats.js')).top(ctx, name, opts));

  program.command('debug')
    .description('why a service is failing: last exits, health history, last output, what the sandbox allows, suggestions')
    .argument('<service>', 'service name')
    .option('-n, --lines <n>', 'lines of output to show (default 20)')
    .option('--json', 'print as JSON')
    .action(async (name: string, opts) => (await import('./commands/service-info.js')).debug(ctx, name, opts));

  program.command('boot')
    .description('after a host restart, start the services that should run (call it from the init system)')
    .option('--json', 'print what was started as JSON')
    .action(async (opts) => (await import('./commands/service.js')).boot(ctx, opts));

  program.command('__supervise', { hidden: true })
    .description('run the embedded backend\'s supervisor (started by niso itself)')
    .action(async () => (await import('./commands/supervise.js')).supervise(ctx));

  // Run by niso-SERVICE-net.service (ExecStart=/ExecStop=), the private network of a systemd service.
  program.command('__net-up', { hidden: true })
    .description('set up a systemd service\'s private network (run by its niso-SERVICE-net.service)')
    .argument('<service>', 'service name')
    .action((service: string) => UNIT_COMMANDS['__net-up'](ctx, service));
  program.command('__net-down', { hidden: true })
    .description('remove a systemd service\'s private network (run by its niso-SERVICE-net.service)')
    .argument('<service>', 'service name')
    .action((service: string) => UNIT_COMMANDS['__net-down'](ctx, service));
  // Run by niso-SERVICE-health.service, which the service's health timers start: one check, then exit.
  program.command('__health-check', { hidden: true })
    .description('run the health check of a systemd service once (run by its niso-SERVICE-health.service)')
    .argument('<service>', 'service name')
    .action((service: string) => UNIT_COMMANDS['__health-check'](ctx, service));

  // Run by niso-SERVICE-init-check.service: whether the init step is due before this start (niso-SERVICE-init.service's condition).
  program.command('__init-needed', { hidden: true })
    .description('mark whether the init step of a systemd service is due before its start (run by its niso-SERVICE-init-check.service)')
    .argument('<service>', 'service name')
    .action((service: string) => UNIT_COMMANDS['__init-needed'](ctx, service));

  // Run by niso-SERVICE-deps.service: a stack service's healthy/completed dependencies before its start (after a reboot too).
  program.command('__wait-dependencies', { hidden: true })
    .description('wait until a stack service\'s dependencies meet their depends_on conditions (run by its niso-SERVICE-deps.service)')
    .argument('<service>', 'service name')
    .action((service: string) => UNIT_COMMANDS['__wait-dependencies'](ctx, service));

  // Run by niso-recover.service at boot: an interrupted switch of generations settled before anyone runs niso.
  program.command('__recover', { hidden: true })
    .description('settle a switch of generations that a crash or a power cut interrupted (run by niso-recover.service at boot)')
    .action(async () => (await import('./commands/generation.js')).recoverNow(ctx));

  // Run by niso-SERVICE-exit.service (OnFailure=/OnSuccess= of the service's unit): the restart policy, once per end.
  program.command('__after-exit', { hidden: true })
    .description('apply the restart policy after a systemd service ended (run by its niso-SERVICE-exit.service)')
    .argument('<service>', 'service name')
    .action((service: string) => UNIT_COMMANDS['__after-exit'](ctx, service));

  const runtime = program.command('runtime').description('language runtimes that apps can use: the host\'s, added by hand, or installed into niso\'s store');
  runtime.command('list').alias('ls')
    .description('list the runtimes found on this host, the ones added by hand and the installed ones')
    .option('--json', 'print as JSON, with every mount')
    .action(async (opts) => (await import('./commands/runtime-list.js')).run(ctx, opts));
  runtime.command('add')
    .description('use a runtime niso does not find by itself (recorded in /etc/niso/runtimes.toml)')
    .argument('<spec>', 'NAME:VERSION, e.g. nodejs:20 or python:3.12')
    .argument('<path>', 'the interpreter, e.g. /opt/node-20/bin/node')
    .option('--json', 'print the added runtime as JSON')
    .action(async (spec: string, path: string, opts) => (await import('./commands/runtime-add.js')).run(ctx, spec, path, opts));
  runtime.command('install')
    .description('download an official runtime from the npm registry into niso\'s store (integrity checked), e.g. nodejs:22')
    .argument('<spec>', 'NAME:VERSION: nodejs:22 (the newest 22.x), nodejs:22.11 or nodejs:22.11.0')
    .option('--json', 'print the installed runtime as JSON')
    .action(async (spec: string, opts) => (await import('./commands/runtime-install.js')).run(ctx, spec, opts));
  runtime.command('remove').alias('rm')
    .description('forget a runtime added with `niso runtime add`, or delete one installed with `niso runtime install`')
    .argument('<spec>', 'NAME:VERSION (the full version when several match), an installed one\'s sha256: digest, or its path')
    .option('--json', 'print the removed entry as JSON')
    .action(async (spec: string, opts) => (await import('./commands/runtime-remove.js')).run(ctx, spec, opts));

  const stack = program.command('stack').description('stacks: services that run together, described by a stack.toml (Compose\'s counterpart); each `up` and `down` is one switch of the host\'s generation');
  const verbs = async () => import('./commands/stack-verbs.js');
  switchFlags(stack.command('up')
    .description('deploy the stack, like `docker compose up -d`: one switch of the host\'s generation, services started in dependency order, each waiting for its depends_on conditions')
    .option('-f, --file <file>', 'the stack file (default: stack.toml in the current directory)')
    .option('--profile <name>', 'also run the services of this profile (repeatable)', collect, [])
    .option('--wait', 'after the switch, wait until every service runs and is healthy where it has a check')
    .option('--json', 'print what the switch did to each service as JSON'))
    .action(async (opts) => (await verbs()).up(ctx, opts));
  switchFlags(stack.command('down')
    .description('stop and remove the stack\'s services (one switch) and the networks it made; its volumes stay unless --volumes --yes')
    .argument('[name]', 'the stack\'s name (default: the stack of -f FILE or ./stack.toml)')
    .option('-f, --file <file>', 'the stack file')
    .option('--volumes', 'also delete the stack\'s own volumes and the services\' /state (with --yes)')
    .option('--yes', 'confirm --volumes')
    .option('--json', 'print what was removed as JSON'))
    .action(async (name: string | undefined, opts) => (await verbs()).down(ctx, name, opts));
  stack.command('status')
    .description('each service of the stack with its status, health and uptime')
    .argument('[name]', 'the stack\'s name (default: the stack of -f FILE or ./stack.toml, or the only one)')
    .option('-f, --file <file>', 'the stack file')
    .option('--json', 'print as JSON')
    .action(async (name: string | undefined, opts) => (await verbs()).status(ctx, name, opts));
  stack.command('ps')
    .description('the stack\'s services with their host names, packages, pids and ports, like `docker compose ps`')
    .argument('[name]', 'the stack\'s name')
    .option('-f, --file <file>', 'the stack file')
    .option('--json', 'print as JSON')
    .action(async (name: string | undefined, opts) => (await verbs()).ps(ctx, name, opts));
  stack.command('ls')
    .description('the stacks on this host, like `docker compose ls`')
    .option('--json', 'print as JSON')
    .action(async (opts) => (await verbs()).ls(ctx, opts));
  stack.command('logs')
    .description('the stack\'s output, each line prefixed with its service, like `docker compose logs`')
    .argument('[services...]', 'services of the stack (default: all)')
    .option('--file <file>', 'the stack file (-f is --follow here, as in `docker compose logs -f`)')
    .option('-f, --follow', 'keep printing new output until interrupted')
    .option('--since <time>', 'only output from this time on')
    .option('--until <time>', 'only output before this time')
    .option('-n, --tail <n>', 'only the last N lines of each service')
    .option('-t, --timestamps', 'show when each line was written')
    .option('--json', 'one JSON object per line')
    .action(async (services: string[], opts) => (await verbs()).logs(ctx, services, opts));
  stack.command('restart')
    .description('restart services of the stack (default: all), dependencies first')
    .argument('[services...]', 'services of the stack')
    .option('-f, --file <file>', 'the stack file')
    .option('--json', 'print their status as JSON')
    .action(async (services: string[], opts) => (await verbs()).restart(ctx, services, opts));
  stack.command('exec')
    .description('run a command inside a service of the stack, like `docker compose exec`')
    .argument('<service>', 'a service of the stack')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-f, --file <file>', 'the stack file')
    .option('-i, --interactive', 'pass stdin on to the command')
    .option('-t, --tty', 'give the command a fresh pseudo-terminal')
    .option('-e, --env <NAME=value>', 'set an environment variable for the command (repeatable)', collect, [])
    .action(async (service: string, command: string[], opts) => (await verbs()).exec(ctx, service, command, opts));
  stack.command('config')
    .description('print the stack as niso resolves it, like `docker compose config`: variables interpolated, env files merged, defaults made explicit, packages looked up in the store')
    .option('-f, --file <file>', 'the stack file (default: stack.toml in the current directory)')
    .option('--profile <name>', 'also run the services of this profile (repeatable)', collect, [])
    .option('--json', 'print the resolved stack, the packages it names and where each variable came from, as JSON')
    .action(async (opts) => (await import('./commands/stack.js')).config(ctx, opts));

  const secret = program.command('secret').description('secrets that services read as files (/run/secrets/NAME), kept root-only on this host');
  secret.command('create')
    .description('store a secret from a file, or from stdin (`-`, or when stdin is not a terminal); never replaces one')
    .argument('<name>', 'secret name')
    .argument('[file]', 'a regular file holding the value, or - for stdin')
    .option('-l, --label <key=value>', 'a label to keep with it (repeatable)', collect, [])
    .option('--json', 'print its metadata as JSON')
    .action(async (name: string, file: string | undefined, opts) => (await import('./commands/secret.js')).create(ctx, name, file, opts));
  secret.command('list').alias('ls')
    .description('list secrets (never their values): size, digest, age, the services granted each')
    .option('-q, --quiet', 'print only the names')
    .option('--json', 'print as JSON')
    .action(async (opts) => (await import('./commands/secret.js')).list(ctx, opts));
  secret.command('inspect')
    .description('show secrets\' metadata (never their values) and the services granted them')
    .argument('<names...>', 'secret names')
    .option('--json', 'print as JSON')
    .action(async (names: string[], opts) => (await import('./commands/secret.js')).inspect(ctx, names, opts));
  secret.command('remove').alias('rm')
    .description('remove secrets (refused while a service is granted one, unless -f)')
    .argument('<names...>', 'secret names')
    .option('-f, --force', 'remove even if services are granted them (they fail at their next start)')
    .option('--json', 'print what was removed as JSON')
    .action(async (names: string[], opts) => (await import('./commands/secret.js')).remove(ctx, names, opts));

  const net = program.command('net').description('niso networks: private bridges with kernel port mapping');
  net.command('create').description('create a network (a free subnet is chosen unless --subnet is given)')
    .argument('<name>', 'network name')
    .option('--subnet <cidr>', 'e.g. 10.89.5.0/24')
    .option('--no-egress', 'services on it cannot reach anything outside their networks')
    .option('--json', 'print as JSON')
    .action(async (name: string, opts) => (await import('./commands/net.js')).create(ctx, name, opts));
  net.command('list').alias('ls').description('list networks').option('--json', 'print as JSON')
    .action(async (opts) => (await import('./commands/net.js')).list(ctx, opts));
  net.command('inspect').description('show a network, its services and ports').argument('<name>', 'network name')
    .option('--rules', 'also print the nftables rules niso maintains').option('--json', 'print as JSON')
    .action(async (name: string, opts) => (await import('./commands/net.js')).inspect(ctx, name, opts));
  net.command('remove').alias('rm').description('remove a network (refused while services use it)').argument('<name>', 'network name')
    .option('--json', 'print as JSON')
    .action(async (name: string, opts) => (await import('./commands/net.js')).remove(ctx, name, opts));
  net.command('prune').description('remove what crashed runs left behind (namespaces, veths, port maps)').option('--json', 'print as JSON')
    .action(async (opts) => (await import('./commands/net.js')).prune(ctx, opts));

  const volume = program.command('volume').description('volumes: data that outlives a service, granted to services by name (and each service\'s /state)');
  volume.command('create').description('create a named volume (granting one that does not exist, with -v NAME:/path, creates it too)')
    .argument('<name>', 'volume name: lower-case letters, digits, ".", "_" and "-"')
    .option('--label <key=value>', 'set a label (repeatable)', collect, [])
    .option('--json', 'print the volume as JSON')
    .action(async (name: string, opts) => (await import('./commands/volume.js')).create(ctx, name, opts));
  volume.command('list').alias('ls').description('list volumes: named ones, services\' own (SERVICE/KEY) and every service\'s /state (SERVICE/state)')
    .option('-q, --quiet', 'print only the names')
    .option('-f, --filter <key=value>', 'name=TEXT, label=KEY[=VALUE], dangling=true|false, kind=named|service|state (repeatable)', collect, [])
    .option('-s, --size', 'measure every volume (walks each one; /state sizes are always shown)')
    .option('--json', 'print as JSON')
    .action(async (opts) => (await import('./commands/volume.js')).list(ctx, opts));
  volume.command('inspect').description('show volumes: size, owner and group, grants (which services, read-write or read-only, exclusive), creation time, labels')
    .argument('<names...>', 'volume names (SERVICE/state for a service\'s /state)')
    .option('--json', 'print as JSON (an array)')
    .action(async (names: string[], opts) => (await import('./commands/volume.js')).inspect(ctx, names, opts));
  volume.command('remove').alias('rm').description('remove volumes and their data (refused while a service that exists holds one)')
    .argument('<names...>', 'volume names; SERVICE/state only once the service is removed')
    .option('-f, --force', 'drop the grants of services that do not run; no error for volumes that do not exist')
    .option('--json', 'print as JSON')
    .action(async (names: string[], opts) => (await import('./commands/volume.js')).remove(ctx, names, opts));
  volume.command('prune').description('remove the /state and own volumes of services that no longer exist; with -a, unused named volumes too')
    .option('-a, --all', 'also every named volume that no service or run holds')
    .option('-f, --force', 'do not ask for confirmation (needed without a terminal)')
    .option('--filter <key=value>', 'label=KEY[=VALUE] or label!=KEY[=VALUE] (repeatable)', collect, [])
    .option('-n, --dry-run', 'only show what would be removed')
    .option('--json', 'print as JSON')
    .action(async (opts) => (await import('./commands/volume.js')).prune(ctx, opts));
  volume.command('backup').description('write a volume (or SERVICE/state) to a .tar.zst with every file\'s sha256; its writers are stopped for the copy unless --live')
    .argument('<name>', 'volume name')
    .requiredOption('-o, --output <file>', 'the archive to write, e.g. data.tar.zst')
    .option('--live', 'copy while services write to it (no stop; files may not match each other)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts) => (await import('./commands/volume-backup.js')).backup(ctx, name, opts));
  volume.command('restore').description('restore a backup into a new or empty volume; every file is checked against the backup\'s sha256 manifest first')
    .argument('<name>', 'volume name (created if it does not exist)')
    .argument('<file>', 'an archive written by `niso volume backup`')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, file: string, opts) => (await import('./commands/volume-backup.js')).restore(ctx, name, file, opts));
  volume.command('snapshot').description('snapshot a volume where its file system makes it cheap (btrfs subvolume, reflink on XFS/btrfs); elsewhere a full copy up to 1 GiB, or with --copy')
    .argument('<name>', 'volume name (SERVICE/state for a service\'s /state)')
    .option('--copy', 'copy it in full when the file system cannot share blocks, however large')
    .option('--stop', 'stop the services that write to it for the snapshot and start them again (not needed for a btrfs subvolume)')
    .option('--keep <n>', 'keep this many snapshots of the volume from now on (default 3)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts) => (await import('./commands/volume-snapshot.js')).take(ctx, name, opts));
  volume.command('snapshots').description('list the snapshots of a volume (or of every volume), and live data a restore moved aside')
    .argument('[name]', 'volume name')
    .option('--json', 'print as JSON')
    .action(async (name: string | undefined, opts) => (await import('./commands/volume-snapshot.js')).list(ctx, name, opts));
  volume.command('snapshot-restore').description('put a snapshot back as the volume\'s data (nothing may run with it); the live data is moved aside, not deleted')
    .argument('<name>', 'volume name').argument('<snapshot>', 'a snapshot of it (`niso volume snapshots NAME`)')
    .option('--yes', 'go ahead (required)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, snapshot: string, opts) => (await import('./commands/volume-snapshot.js')).restore(ctx, name, snapshot, opts));
  volume.command('snapshot-rm').description('remove snapshots of a volume (or live data a restore moved aside)')
    .argument('<name>', 'volume name').argument('<snapshots...>', 'snapshot names')
    .option('--json', 'print as JSON')
    .action(async (name: string, snapshots: string[], opts) => (await import('./commands/volume-snapshot.js')).remove(ctx, name, snapshots, opts));

  const generation = program.command('generation').alias('gen').description('the host\'s generations: each change to what runs is one, numbered, kept for rollback (like NixOS\'s system profile)');
  generation.command('list').alias('ls').description('list generations: number, when, status, the current one (*), who made it, what changed')
    .option('--json', 'print as JSON')
    .action(async (opts) => (await import('./commands/generation.js')).list(ctx, opts));
  generation.command('diff').description('what a switch from generation A to B would do to each service (env values are never shown)')
    .argument('<a>', 'a generation number, or "current"')
    .argument('<b>', 'a generation number, or "current"')
    .option('--json', 'print as JSON')
    .action(async (a: string, b: string, opts) => (await import('./commands/generation.js')).diff(ctx, a, b, opts));
  generation.command('gc').description('remove the generations retention does not keep (and what only they named); `niso gc` does it too')
    .option('-n, --dry-run', 'only show what would be removed')
    .option('--json', 'print as JSON')
    .action(async (opts) => (await import('./commands/generation.js')).gc(ctx, opts));
  generation.command('remove').alias('rm').description('forget generations now (not the current, the newest or a pending one), so that `niso remove` can take their packages')
    .argument('<numbers...>', 'generation numbers')
    .option('--json', 'print as JSON')
    .action(async (numbers: string[], opts) => (await import('./commands/generation.js')).remove(ctx, numbers, opts));

  program.command('install')
    .description('verify a .niso package and place it in the store')
    .argument('<file>', 'the .niso package')
    .option('--max-size <size>', 'refuse packages that unpack to more than this (default 8G)')
    .option('--max-files <n>', 'refuse packages with more files than this (default 500000)')
    .option('--replace', 'replace another build of the same name and version (one a service uses stays until the service changes)')
    .option('--insecure-skip-verify', 'install even if the trust policy\'s "file:" scope asks for a signature that is missing or wrong (recorded in the audit log)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts) => (await import('./commands/install.js')).run(ctx, file, opts));

  program.command('list').alias('ls')
    .description('list installed packages')
    .option('--json', 'print as JSON')
    .action(async (opts) => (await import('./commands/list.js')).run(ctx, opts));

  program.command('inspect')
    .description('show a service (its plan and live state), a package (manifest, files and sizes), or what a registry tag holds (without pulling it)')
    .argument('<ref>', 'a SERVICE, or a package: NAME[:VERSION], a digest prefix, a FILE.niso, or HOST[:PORT]/REPOSITORY[:TAG]')
    .option('--files', 'list every file')
    .option('--json', 'print as JSON')
    .option('--creds <user[:password]>', 'a registry reference: credentials for it (default: `niso login`, containers\' and Docker\'s files)')
    .option('--password-stdin', 'with --creds USER: read the password from stdin')
    .action(async (ref: string, opts) => {
      const { looksLikeRegistryReference } = await import('../registry/reference.js');
      const [{ existsSync }, { resolve }] = await Promise.all([import('node:fs'), import('node:path')]);
      if (looksLikeRegistryReference(ref) && !existsSync(resolve(ctx.cwd, ref))) return (await import('./commands/registry.js')).inspectRemote(ctx, ref, opts);
      const info = await import('./commands/service-info.js');
      if (info.isService(ctx, ref) && !ref.endsWith('.niso')) return info.inspectService(ctx, ref, opts);
      return (await import('./commands/inspect.js')).run(ctx, ref, opts);
    });

  program.command('remove').alias('rm')
    .description('remove inactive services, or installed packages that no service uses (content shared with other packages stays)')
    .argument('<refs...>', 'SERVICE, or a package: NAME[:VERSION] or digest prefix')
    .option('--all-versions', 'remove every installed version (or build) that NAME or NAME:VERSION matches')
    .option('-v, --volumes', 'also delete the services\' data: their /state and own volumes (also of names only `niso run` used, or services removed before), and give their uids back')
    .addOption(new Option('--state', 'the older name of --volumes').hideHelp())
    .option('--json', 'print as JSON');
  switchFlags(program.commands.at(-1)!)
    .action(async (refs: string[], opts) => (await import('./commands/remove.js')).run(ctx, refs, opts));

  switchFlags(program.command('rollback')
    .description('switch the host back to the previous good generation (or --to N), like `nixos-rebuild switch --rollback`; no new generation is made')
    .option('--to <n>', 'the generation to go back to (default: the newest good one before the current)')
    .option('--with-data', 'also restore each volume from the snapshot taken when the host left that generation (the live data is moved aside, never deleted)')
    .option('--json', 'print the outcome as JSON'))
    .action(async (opts) => (await import('./commands/switch.js')).rollback(ctx, opts));

  switchFlags(program.command('switch')
    .description('switch the host to generation N (any one `niso generation list` shows), services, ports and hosts files included')
    .argument('<n>', 'generation number')
    .option('--with-data', 'also restore each volume from the snapshot taken when the host left generation N (the live data is moved aside, never deleted)')
    .option('--json', 'print the outcome as JSON'))
    .action(async (n: string, opts) => (await import('./commands/switch.js')).switchTo(ctx, n, opts));

  program.command('gc')
    .description('free store content that no installed package uses and leftovers of interrupted installs; remove generations retention does not keep; report data of removed services')
    .option('-n, --dry-run', 'only report what would be freed')
    .option('--volumes', 'also delete the /state and own volumes of services that no longer exist')
    .option('--json', 'print as JSON')
    .action(async (opts) => (await import('./commands/gc.js')).run(ctx, opts));

  // Registries: Docker's verbs (push, pull, login, logout), with signatures checked against /etc/niso/policy.toml.
  const credOptions = (c: Command) => c
    .option('--creds <user[:password]>', 'credentials for the registry (default: `niso login`, containers\' auth.json, Docker\'s config.json and its helpers)')
    .option('--password-stdin', 'with --creds USER: read the password from stdin');
  credOptions(program.command('push')
    .description('push packages to an OCI registry under a tag (several: one per architecture, as an index), with their signatures')
    .argument('<args...>', 'FILE.niso... then HOST[:PORT]/REPOSITORY[:TAG]'))
    .option('--sign', 'sign packages that have no FILE.niso.sig beside them; an error without a key (default: when a key is configured)')
    .option('--no-sign', 'push without signing what has no .sig')
    .option('--sign-key <file>', 'the key to sign with (default: $NISO_SIGNING_KEY, else /etc/niso/signing.key)')
    .option('--json', 'print the result as JSON')
    .action(async (args: string[], opts) => (await import('./commands/registry.js')).push(ctx, args, opts));
  credOptions(program.command('pull')
    .description('download a package from an OCI registry, check its signature against the trust policy, and install it')
    .argument('<ref>', 'HOST[:PORT]/REPOSITORY[:TAG|@DIGEST] (the tag defaults to latest)'))
    .option('-o, --output <file>', 'only download the (verified) package into FILE instead of installing it')
    .option('--insecure-skip-verify', 'do not check signatures (warns, and is recorded in the audit log)')
    .option('--max-size <size>', 'refuse packages that unpack to more than this (default 8G)')
    .option('--max-files <n>', 'refuse packages with more files than this (default 500000)')
    .option('--json', 'print the result as JSON')
    .action(async (ref: string, opts) => (await import('./commands/registry.js')).pull(ctx, ref, opts));
  credOptions(program.command('tags')
    .description('list the tags of a repository in a registry')
    .argument('<repository>', 'HOST[:PORT]/REPOSITORY'))
    .option('--json', 'print as JSON')
    .action(async (ref: string, opts) => (await import('./commands/registry.js')).tags(ctx, ref, opts));
  program.command('login')
    .description('check credentials with a registry and keep them in niso\'s auth file (/etc/niso/auth.json, 0600)')
    .argument('<registry>', 'HOST[:PORT]')
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password (visible to other users in the process list: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--json', 'print the result as JSON')
    .action(async (registry: string, opts) => (await import('./commands/registry.js')).login(ctx, registry, opts));
  program.command('logout')
    .description('remove a registry\'s credentials from niso\'s auth file')
    .argument('<registry>', 'HOST[:PORT]')
    .option('--json', 'print the result as JSON')
    .action(async (registry: string, opts) => (await import('./commands/registry.js')).logout(ctx, registry, opts));
  const key = program.command('key').description('keys that sign packages');
  key.command('generate')
    .description('make an Ed25519 signing key (default /etc/niso/signing.key, which `niso pack` then signs with) and its .pub')
    .option('-f, --file <file>', 'where to write the private key (the public key goes beside it, .pub)')
    .option('-C, --comment <text>', 'comment of the public key (default niso@HOSTNAME)')
    .option('--json', 'print the result as JSON')
    .action(async (opts) => (await import('./commands/trust.js')).keyGenerate(ctx, opts));
  const trust = program.command('trust').description('the trust policy (/etc/niso/policy.toml): whose signatures a pull of each registry scope needs');
  trust.command('add')
    .description('trust a public key for a scope (HOST[:PORT][/REPOSITORY], or file: for local .niso files), or accept unsigned packages, or reject')
    .argument('<scope>', 'HOST[:PORT], HOST[:PORT]/REPOSITORY, or file:')
    .argument('[key]', 'a .pub file (`niso key generate`)')
    .option('--insecure-accept-unsigned', 'accept unsigned packages from this scope')
    .option('--reject', 'refuse every package from this scope')
    .option('--any-name', 'do not require the signed package name to be the repository\'s last part')
    .option('--json', 'print the result as JSON')
    .action(async (scope: string, keyFile: string | undefined, opts) => (await import('./commands/trust.js')).trustAdd(ctx, scope, keyFile, opts));
  trust.command('list').alias('ls')
    .description('show the trust policy: its scopes and their keys')
    .option('--json', 'print as JSON')
    .action(async (opts) => (await import('./commands/trust.js')).trustList(ctx, opts));
  trust.command('remove').alias('rm')
    .description('stop trusting a key for a scope, or remove the scope')
    .argument('<scope>', 'the scope as `niso trust list` shows it')
    .argument('[keyid]', 'SHA256:… (default: the whole scope)')
    .option('--json', 'print the result as JSON')
    .action(async (scope: string, keyid: string | undefined, opts) => (await import('./commands/trust.js')).trustRemove(ctx, scope, keyid, opts));

  const audit = program.command('audit')
    .description('show the audit log: who changed which service, volume or secret, when, with which command (redacted)')
    .option('--since <time>', 'only entries from this time on: a duration back from now (10m, 1h30m, 2d) or a date and time')
    .option('-n, --tail <n>', 'only the last N entries')
    .option('--json', 'print the entries as JSON, with their hashes')
    .action(async (opts) => (await import('./commands/audit.js')).list(ctx, opts));
  audit.command('verify')
    .description('check the audit log\'s hash chain and head: exit 1 naming the first entry that was edited, deleted, moved or cut off')
    .option('--json', 'print the report as JSON')
    .action(async (opts) => (await import('./commands/audit.js')).verify(ctx, opts));

  program.command('explain')
    .description('explain an error code, or list all codes')
    .argument('[code]', 'e.g. NISO1002')
    .option('--json', 'print as JSON')
    .action(async (code: string | undefined, opts) => (await import('./commands/explain.js')).run(ctx, code, opts));

  return program;
}

/** Parses and runs the command line; commander's own errors become NISO9001 (help and --version are no errors). */
export async function parse(argv: string[], ctx: Context): Promise<void> {
  try {
    await buildProgram(ctx).parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    if (e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return;
    throw new NisoError('NISO9001', e.message.replace(/^error: /, ''), { hint: 'run `niso --help` or `niso COMMAND --help`', exitCode: 2 });
  }
}
