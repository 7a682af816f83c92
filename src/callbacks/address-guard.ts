// Keeps callbacks from reaching internal networks (SSRF). At create time only IP literals can be
// judged (no DNS lookup then); at delivery the host is resolved, every address is checked, and the
// connection is pinned to a checked address, so DNS cannot change between check and connect.
import dns from 'node:dns';
import net from 'node:net';

const blocked = new net.BlockList();
for (const [addr, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  blocked.addSubnet(addr, prefix, 'ipv4');
}
blocked.addAddress('::1', 'ipv6');
blocked.addAddress('::', 'ipv6');
blocked.addSubnet('fc00::', 7, 'ipv6');
blocked.addSubnet('fe80::', 10, 'ipv6');

/** True when the address is in a refused range (IPv4-mapped IPv6 forms included). */
export function isRefusedAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = net.isIP(bare);
  if (family === 4) return blocked.check(bare, 'ipv4');
  if (family !== 6) return false;
  const mapped = /^(?:0*:)*:?ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare) ?? /^::(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return blocked.check(mapped[1], 'ipv4');
  const hexMapped = /^(?:0*:)*:?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(bare);
  if (hexMapped) {
    const hi = parseInt(hexMapped[1], 16);
    const lo = parseInt(hexMapped[2], 16);
    return blocked.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, 'ipv4');
  }
  return blocked.check(bare, 'ipv6');
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
