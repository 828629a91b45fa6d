// The MTU of niso's bridges and veth pairs: the one of the link the host's traffic leaves by.
// Bridges and veths default to 1500; behind a smaller uplink (a cloud VM's 1400, a VPN's 1420)
// a service's full-size packets would be fragmented, or dropped where DF is set and ICMP
// "fragmentation needed" does not come back. With the uplink's MTU, TCP picks a fitting MSS.

/** A default route of the host: through one device, or several (multipath). */
export interface DefaultRoute {
  devs: string[];
  /** The route's own `mtu` attribute, which overrides the devices' MTU. */
  mtu: number | null;
}

export interface LinkMtu {
  ifname: string;
  mtu: number | null;
}

/** What Linux gives new bridges and veths; niso uses it when the host has no default route. */
export const DEFAULT_MTU = 1500;
/** The smallest MTU IPv4 requires every link to carry (RFC 791). */
export const MIN_MTU = 68;
/** The largest MTU a veth accepts. */
export const MAX_MTU = 65535;

export interface MtuChoice {
  mtu: number;
  /** Why: the uplink device(s), or that there is none. */
  reason: string;
}

/**
 * The smallest MTU among the host's default routes (any of them may carry a service's traffic:
 * multipath, or failover by metric), each being the route's own `mtu` or its device's. Loopback
 * and niso's own bridges are no uplink. No usable default route: 1500, the kernel's default.
 */
export function chooseMtu(routes: readonly DefaultRoute[], links: readonly LinkMtu[], ownBridges: readonly string[] = []): MtuChoice {
  const candidates: { mtu: number; what: string }[] = [];
  for (const r of routes) {
    const devs = r.devs.filter((d) => d !== 'lo' && !ownBridges.includes(d));
    if (devs.length === 0) continue;
    if (r.mtu !== null) {
      candidates.push({ mtu: r.mtu, what: `the default route via ${devs.join(', ')} (mtu ${r.mtu})` });
      continue;
    }
    for (const d of devs) {
      const mtu = links.find((l) => l.ifname === d)?.mtu ?? null;
      if (mtu !== null) candidates.push({ mtu, what: `${d} (mtu ${mtu})` });
    }
  }
  if (candidates.length === 0) return { mtu: DEFAULT_MTU, reason: 'no default route: the kernel default' };
  const least = candidates.reduce((a, b) => (b.mtu < a.mtu ? b : a));
  return { mtu: Math.min(MAX_MTU, Math.max(MIN_MTU, least.mtu)), reason: `the uplink ${least.what}` };
}
