// A service's /etc/hosts: how services on a shared network find each other by name without a
// DNS daemon. A service on no shared network is not listed, so its address is not even learnt.
import { parseIpv4 } from './cidr.js';
import type { Attachment } from './types.js';

/**
 * The hosts file of `service`, given every live attachment. Its own name resolves to its address
 * on its first network; every other service that shares a network with it resolves to that
 * service's address on the first shared network, in the order of `service`'s own attachments.
 */
export function renderHosts(service: string, attachments: readonly Attachment[]): string {
  const own = attachments.filter((a) => a.service === service);
  const lines = [
    `# /etc/hosts of ${service}, written by niso: the services on its networks by name.`,
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
  ];
  const names = (a: Attachment) => [a.service, ...(a.aliases ?? []).filter((x) => x !== a.service)].join(' ');
  if (own[0]) lines.push(`${own[0].address}\t${names(own[0])}`);
  const others = [...new Set(attachments.filter((a) => a.service !== service).map((a) => a.service))].sort();
  const entries: { address: string; name: string; names: string }[] = [];
  for (const other of others) {
    for (const mine of own) {
      const theirs = attachments.find((a) => a.service === other && a.network === mine.network);
      if (theirs) {
        entries.push({ address: theirs.address, name: other, names: names(theirs) });
        break;
      }
    }
  }
  entries.sort((a, b) => (parseIpv4(a.address) ?? 0) - (parseIpv4(b.address) ?? 0) || a.name.localeCompare(b.name));
  for (const e of entries) lines.push(`${e.address}\t${e.names}`);
  return lines.join('\n') + '\n';
}
