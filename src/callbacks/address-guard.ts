// Keeps callbacks from reaching internal networks (SSRF). At create time only IP literals can be
// judged (no DNS lookup then); at delivery the host is resolved, every address is checked, and the
// connection is pinned to a checked address, so DNS cannot change between check and connect.
import dns from 'node:dns';
import net from 'node:net';

// Addresses a callback may never reach: this host, private and shared networks, link-local,
// benchmarking, multicast and reserved space. A superset of the list in decisions.md.
const refused4 = new net.BlockList();
for (const [addr, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments (DS-Lite, NAT64 discovery)
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking, used inside some data centres
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the broadcast address 255.255.255.255
] as const) {
  refused4.addSubnet(addr, prefix, 'ipv4');
}

const refused6 = new net.BlockList();
for (const [addr, prefix] of [
  ['::', 96], // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d, all of them
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): a translator inside the network
  ['100::', 64], // discard-only
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routed by some stacks)
  ['ff00::', 8], // multicast
] as const) {
  refused6.addSubnet(addr, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad and a zone allowed). */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    if (!net.isIPv4(dotted[2])) return undefined;
    const [a, b, c, d] = dotted[2].split('.').map(Number);
    text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => parseInt(g, 16));
}

const ipv4Of = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/**
 * The IPv4 addresses an IPv6 address stands for or carries, by the standard embeddings a router
 * or translator acts on: IPv4-mapped (::ffff:a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d),
 * NAT64 (64:ff9b::a.b.c.d), 6to4 (2002:aabb:ccdd::) and Teredo (server and client).
 */
function embeddedIpv4(g: number[]): string[] {
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && g[5] === 0xffff) return [ipv4Of(g[6], g[7])];
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return [ipv4Of(g[6], g[7])];
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return [ipv4Of(g[6], g[7])];
  if (g[0] === 0x2002) return [ipv4Of(g[1], g[2])];
  if (g[0] === 0x2001 && g[1] === 0) return [ipv4Of(g[2], g[3]), ipv4Of(~g[6] & 0xffff, ~g[7] & 0xffff)];
  return [];
}

/**
 * The host as the WHATWG URL parser reads it, so that every spelling of an IPv4 address
 * (`2130706433`, `0x7f.1`, `017700000001`, `127.1`) is judged as the address it means.
 */
function canonicalHost(host: string): string {
  const bare = host.replace(/^\[|\]$/g, '');
  if (net.isIP(bare) || bare.includes(':')) return bare;
  try {
    return new URL(`http://${bare}/`).hostname;
  } catch {
    return bare;
  }
}

/** True when the address is in a refused range, written any way, or carries one (IPv6 forms). */
export function isRefusedAddress(address: string): boolean {
  const host = canonicalHost(address);
  const family = net.isIP(host);
  if (family === 4) return refused4.check(host, 'ipv4');
  if (family !== 6) return false;
  const groups = ipv6Groups(host);
  if (!groups) return true; // net.isIP said IPv6 but we cannot read it: refuse rather than guess
  const normal = groups.map((x) => x.toString(16)).join(':');
  if (refused6.check(normal, 'ipv6')) return true;
  return embeddedIpv4(groups).some((v4) => refused4.check(v4, 'ipv4'));
}

export function hostAllowed(host: string, allowHosts: string[]): boolean {
  return allowHosts.includes(host.toLowerCase().replace(/^\[|\]$/g, ''));
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/** A `lookup` for http.request that refuses internal addresses unless the host is allowed. */
export function guardedLookup(allowHosts: string[]) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as dns.LookupAddress[];
      const allowed = hostAllowed(hostname, allowHosts);
      const refused = list.find((a) => isRefusedAddress(a.address));
      if (!allowed && refused) {
        const error: NodeJS.ErrnoException = new Error(
          `Callback host ${hostname} resolves to ${refused.address}, an internal address; not delivered.`,
        );
        error.code = 'EREFUSEDADDRESS';
        return callback(error, '', 0);
      }
      const pinned = list[0];
      if (options.all) {
        (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, [pinned]);
      } else {
        callback(null, pinned.address, pinned.family);
      }
    });
  };
}
