import Foundation
import NIOPosix

/// Turns a host name (or an address literal, in any form `getaddrinfo` reads) into its addresses,
/// as raw bytes (4 for IPv4, 16 for IPv6). `getaddrinfo` blocks, so it runs on NIO's thread pool.
public enum AddressResolver {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func resolve(_ host: String) async throws -> [[UInt8]] {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return try await NIOThreadPool.singleton.runIfActive { try lookup(name) }
    }

    private static func lookup(_ host: String) throws -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else {
            throw Failure(description: "\(host) does not resolve (\(String(cString: gai_strerror(status))))")
        }
        defer { freeaddrinfo(first) }
        var addresses: [[UInt8]] = []
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let info = next {
            if let sockaddr = info.pointee.ai_addr {
                switch info.pointee.ai_family {
                case AF_INET:
                    var address = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    addresses.append(withUnsafeBytes(of: &address) { Array($0) })
                case AF_INET6:
                    var address = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    addresses.append(withUnsafeBytes(of: &address) { Array($0) })
                default:
                    break
                }
            }
            next = info.pointee.ai_next
        }
        guard !addresses.isEmpty else { throw Failure(description: "\(host) has no address") }
        return addresses
    }

    /// An address as text, the way a URL writes it (`[...]` around IPv6).
    public static func text(_ address: [UInt8]) -> String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        address.withUnsafeBytes { bytes in _ = inet_ntop(AF_INET6, bytes.baseAddress, &buffer, socklen_t(buffer.count)) }
        return "[" + String(cString: buffer) + "]"
    }
}
