// Other firewalls that drop what niso forwards. A packet passes every base chain on its hook, one
// table after another, and a drop in any of them is final: niso's own accept cannot undo the
// FORWARD policy drop that Docker (and ufw, or `iptables -P FORWARD DROP`) set through
// iptables-nft. Then traffic from outside to mapped ports, between the services of a network
// (br_netfilter runs bridged packets through the same hook) and out of them is dropped; the host's
// own connections to mapped ports still work. niso never edits other tables, so it can only say so.

type Json = unknown;
const isObj = (x: Json): x is Record<string, Json> => typeof x === 'object' && x !== null && !Array.isArray(x);
const arr = (x: Json): Json[] => (Array.isArray(x) ? x : []);

export interface NftChain {
  family: string;
  table: string;
  name: string;
  /** Base chains only. */
  hook: string | null;
  policy: string | null;
}

/** `nft -j list chains` (or `list table`) → its chains. */
export function parseNftChains(json: Json): NftChain[] {
  const out: NftChain[] = [];
  for (const item of arr(isObj(json) ? json.nftables : undefined)) {
    if (!isObj(item) || !isObj(item.chain)) continue;
    const c = item.chain;
    if (typeof c.family !== 'string' || typeof c.table !== 'string' || typeof c.name !== 'string') continue;
    out.push({ family: c.family, table: c.table, name: c.name, hook: typeof c.hook === 'string' ? c.hook : null, policy: typeof c.policy === 'string' ? c.policy : null });
  }
  return out;
}

/** Base chains of other tables that drop forwarded IPv4 packets by policy: candidates, before their rules are read. */
export function forwardDropChains(chains: readonly NftChain[], ownTable: string): NftChain[] {
  return chains.filter((c) => c.hook === 'forward' && c.policy === 'drop' && (c.family === 'ip' || c.family === 'inet') && !(c.family === 'ip' && c.table === ownTable));
}

/** An interface-name pattern as nft prints it (`niso0`, `niso*`) matches a bridge name. */
function nameMatches(pattern: string, name: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

/**
 * Whether a table holds rules that accept every niso bridge in both directions: a rule whose only
 * match is `iifname` (and one with `oifname`) equal to the bridge or a wildcard covering it, with
 * the verdict accept, like the DOCKER-USER rules README "Networks" gives. Not whether the chain
 * reaches them; admins who wrote such rules are trusted to have placed them.
 */
export function acceptsBridges(tableJson: Json, bridges: readonly string[]): boolean {
  const seen = { iifname: [] as string[], oifname: [] as string[] };
  for (const item of arr(isObj(tableJson) ? tableJson.nftables : undefined)) {
    if (!isObj(item) || !isObj(item.rule)) continue;
    const expr = arr(item.rule.expr).filter((e) => !(isObj(e) && 'counter' in e));
    if (expr.length !== 2 || !isObj(expr[1]) || !('accept' in expr[1])) continue;
    const m = isObj(expr[0]) && isObj(expr[0].match) ? expr[0].match : null;
    if (!m || m.op !== '==' || typeof m.right !== 'string' || !isObj(m.left) || !isObj(m.left.meta)) continue;
    const key = m.left.meta.key;
    if (key === 'iifname' || key === 'oifname') seen[key].push(m.right);
  }
  return bridges.every((b) => seen.iifname.some((p) => nameMatches(p, b)) && seen.oifname.some((p) => nameMatches(p, b)));
}

/** What niso tells the admin about one such chain; the rules to add name niso's bridges by their prefix. */
export function forwardDropWarning(chain: NftChain, bridgePrefix: string): string {
  const where = `${chain.family} ${chain.table} chain ${chain.name}`;
  const fix = chain.family === 'ip' && chain.table === 'filter'
    ? `iptables -I DOCKER-USER -i ${bridgePrefix}+ -j ACCEPT; iptables -I DOCKER-USER -o ${bridgePrefix}+ -j ACCEPT (with Docker; without it, the same with FORWARD instead of DOCKER-USER)`
    : `nft insert rule ${chain.family} ${chain.table} ${chain.name} iifname "${bridgePrefix}*" accept; nft insert rule ${chain.family} ${chain.table} ${chain.name} oifname "${bridgePrefix}*" accept`;
  return `the firewall table ${where} drops forwarded packets (policy drop, as Docker and ufw set it): connections from other hosts to mapped ports, between services and from services to the outside are dropped before niso's rules can accept them. To allow niso's networks (their own rules still apply): ${fix}`;
}
