// The data of niso's networking, shared by the pure policy (model/) and the host side (host/).

/** A niso network: one Linux bridge with the gateway address, one subnet, one nft isolation domain. */
export interface Network {
  name: string;
  /** CIDR, e.g. "10.89.0.0/24". */
  subnet: string;
  /** The bridge's own address in the subnet (the first host address). */
  gateway: string;
  /** Linux interface name of the bridge, at most 15 characters. */
  bridge: string;
  /** Whether services on it may reach anything beyond the bridge (masquerade). Absent means true. */
  egress?: boolean;
  /** ISO time, given by the caller (the model has no clock). */
  createdAt: string;
}

/** One service's place on one network: an address on a veth pair whose far end is in the service's netns. */
export interface Attachment {
  service: string;
  network: string;
  address: string;
  /** Host side of the veth pair, enslaved to the network's bridge (`vn` + 8 hex). */
  vethHost: string;
  /** The service's network namespace (`/run/netns/<netns>`), shared by all its attachments. */
  netns: string;
  /** The interface name inside the netns (eth0 for the first network, eth1, ...). */
  ifname: string;
  /** false: the service talks only to its own networks' members (and answers mapped ports). */
  egress: boolean;
  /** More names peers on this network reach it by (a stack's service name and aliases: `db` for `shop.db`). */
  aliases?: string[];
}

export interface PortRange { from: number; to: number }

/** A host port (range) forwarded in the kernel to a service address. */
export interface PortMap {
  /** The service that holds the mapping; named in conflict errors and rule comments. */
  service: string;
  /** null: every address of the host (and 127.0.0.1). */
  hostIp: string | null;
  hostPort: PortRange;
  protocol: 'tcp' | 'udp';
  /** The service's address on its first network. */
  target: string;
  containerPort: PortRange;
}

/** Everything the nft ruleset is rendered from. */
export interface NetState {
  networks: Network[];
  attachments: Attachment[];
  ports: PortMap[];
}

/** What the host already uses, for choosing a subnet and names that collide with nothing. */
export interface HostNetFacts {
  /** Destinations of every IPv4 route of every table, as CIDRs ("default" left out). */
  routes: string[];
  /** Every IPv4 address of every interface with its prefix, e.g. "192.0.2.2/24". */
  addresses: string[];
  /** Names of every network interface. */
  links: string[];
}

/** A socket listening on the host, from `ss`. */
export interface Listener {
  protocol: 'tcp' | 'udp';
  /** "0.0.0.0", "::", "*", or one address. */
  address: string;
  port: number;
  /** e.g. `node (pid 1234)`; null when ss could not name the process. */
  process: string | null;
}
