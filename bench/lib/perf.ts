// A CPU profile of one core while wrk loads a server pinned to it (`perf record -C`, software
// clock sampling, which works in VMs without hardware counters), grouped into what the time went
// to: the app in user space, the kernel's TCP/IP core, netfilter, the bridge and veth.
import { spawnSync } from 'node:child_process';

export function perfAvailable(): boolean {
  const r = spawnSync('perf', ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

export interface CpuProfile {
  /** perf's own count, e.g. "9K". */
  samples: string;
  /** Share of the samples per group, in percent, largest first. */
  groups: [string, number][];
  /** The largest single kernel symbols, in percent. */
  topKernel: [string, number][];
}

const GROUPS: [string, RegExp][] = [
  ['netfilter: nftables chains, conntrack, NAT, br_netfilter', /^(nft_|nf_|__nf_|nf_hook|ipt_|xt_|br_nf|ip_sabotage|nf_nat|nf_ct|nf_conntrack|ipv4_conntrack|ipv4_confirm)/],
  ['bridge', /^(br_|__br_)/],
  ['veth', /^veth/],
  ['TCP/IP, sockets, packet buffers, routing', /^(tcp_|__tcp|inet_|__inet|sk_|__sk|sock_|skb_|__skb|kfree_skb|__kfree_skb|consume_skb|alloc_skb|__alloc_skb|napi|net_rx|__netif|netif_|dev_|__dev|process_backlog|ip_|__ip|fib_|dst_|ipv4_|rt_|raw_|loopback|eth_)/],
  ['interrupts enabled again (time of VM interrupts and timers lands here)', /^_raw_spin_unlock_irq/],
];

/** Groups `perf report --sort sym` lines ("  7.91%  [k] nft_do_chain"). */
export function groupPerfReport(text: string): CpuProfile {
  const groups = new Map<string, number>();
  const kernel: [string, number][] = [];
  for (const line of text.split('\n')) {
    const m = /^\s+([\d.]+)%\s+\[(.)\]\s+(\S+)/.exec(line);
    if (!m) continue;
    const pct = Number(m[1]);
    const sym = m[3]!;
    let group = 'the app in user space (node, V8, libc)';
    if (m[2] !== '.') {
      group = GROUPS.find(([, re]) => re.test(sym))?.[0] ?? 'other kernel (syscalls, scheduler, memory, epoll)';
      kernel.push([sym, pct]);
    }
    groups.set(group, (groups.get(group) ?? 0) + pct);
  }
  const samples = /^# Samples: (\S+)/m.exec(text)?.[1] ?? '?';
  return { samples, groups: [...groups].sort((a, b) => b[1] - a[1]), topKernel: kernel.sort((a, b) => b[1] - a[1]).slice(0, 8) };
}

/**
 * Runs `argv` (the load) under `perf record -C cpu` and returns its stdout with the profile of
 * that CPU. Throws when perf fails.
 */
export function profileCpuDuring(cpu: number, argv: [string, string[]], file: string): { stdout: string; profile: CpuProfile } {
  const rec = spawnSync('perf', ['record', '-q', '-F', '1999', '-C', String(cpu), '-o', file, '--', argv[0], ...argv[1]], { encoding: 'utf8', timeout: 120_000 });
  if (rec.status !== 0) throw new Error(`perf record failed: ${rec.stderr}`);
  const rep = spawnSync('perf', ['report', '-i', file, '--no-children', '--sort', 'sym', '--stdio'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  if (rep.status !== 0) throw new Error(`perf report failed: ${rep.stderr}`);
  return { stdout: rec.stdout, profile: groupPerfReport(rep.stdout) };
}
