/// The kinds of address a webhook may not reach: a URL that resolves to one could make this
/// service call into its own network (server-side request forgery).
public enum AddressClass: String, Sendable, Hashable, CaseIterable {
    case loopback
    case `private`
    case linkLocal = "link-local"
    case sharedNAT = "carrier-grade NAT"
    case multicast
    case unspecified
    case uniqueLocal = "IPv6 unique local"
    case documentation
    case reserved

    /// The class of a raw address (4 bytes for IPv4, 16 for IPv6); `nil` for a public one.
    /// IPv4 carried in IPv6 (mapped, compatible, NAT64, 6to4, Teredo) is judged as the IPv4 address it carries.
    public static func of(_ address: [UInt8]) -> AddressClass? {
        switch address.count {
        case 4: return ipv4(address)
        case 16: return ipv6(address)
        default: return .reserved
        }
    }

    private static func ipv4(_ a: [UInt8]) -> AddressClass? {
        switch (a[0], a[1]) {
        case (0, _): return .unspecified
        case (10, _), (172, 16...31), (192, 168): return .private
        case (127, _): return .loopback
        case (169, 254): return .linkLocal
        case (100, 64...127): return .sharedNAT
        case (224...239, _): return .multicast
        case (240...255, _): return .reserved
        // 192.0.0.0/24, IETF protocol assignments; 198.18.0.0/15, benchmarking.
        case (192, 0) where a[2] == 0, (198, 18...19): return .reserved
        case (192, 0) where a[2] == 2: return .documentation
        case (198, 51) where a[2] == 100: return .documentation
        case (203, 0) where a[2] == 113: return .documentation
        default: return nil
        }
    }

    private static func ipv6(_ a: [UInt8]) -> AddressClass? {
        let zeros = a[0..<10].allSatisfy { $0 == 0 }
        if zeros, a[10] == 0xFF, a[11] == 0xFF { return ipv4(Array(a[12...])) }
        if zeros, a[10] == 0, a[11] == 0 {
            if a[12...].allSatisfy({ $0 == 0 }) { return .unspecified }
            if a[12...14].allSatisfy({ $0 == 0 }), a[15] == 1 { return .loopback }
            return ipv4(Array(a[12...]))
        }
        // 64:ff9b::/96, the NAT64 prefix; 64:ff9b:1::/48, the local-use one (refused whole: its
        // embedding depends on a prefix length only the network knows).
        if a[0] == 0, a[1] == 0x64, a[2] == 0xFF, a[3] == 0x9B {
            if a[4..<12].allSatisfy({ $0 == 0 }) { return ipv4(Array(a[12...])) }
            if a[4] == 0, a[5] == 1 { return .reserved }
        }
        if a[0] == 0x20, a[1] == 0x02 { return ipv4(Array(a[2...5])) }  // 6to4, 2002::/16
        if a[0] == 0x20, a[1] == 0x01, a[2] == 0, a[3] == 0 { return ipv4(a[12...].map { ~$0 }) }  // Teredo: the client, inverted
        if a[0] == 0x20, a[1] == 0x01, a[2] == 0x0D, a[3] == 0xB8 { return .documentation }  // 2001:db8::/32
        if a[0] == 0x3F, a[1] == 0xFF, a[2] & 0xF0 == 0 { return .documentation }  // 3fff::/20
        if a[0] == 0xFF { return .multicast }
        if a[0] & 0xFE == 0xFC { return .uniqueLocal }
        // fe80::/10 link-local, fec0::/10 the retired site-local.
        if a[0] == 0xFE, a[1] & 0xC0 == 0x80 { return .linkLocal }
        if a[0] == 0xFE, a[1] & 0xC0 == 0xC0 { return .private }
        return nil
    }
}
