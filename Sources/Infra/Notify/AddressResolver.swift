import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Turns a host name (or an address literal, in any form `getaddrinfo` reads) into its addresses,
/// as raw bytes (4 for IPv4, 16 for IPv6), within a deadline.
///
/// `getaddrinfo` blocks, for as long as an unanswering name server makes it. Each lookup runs on a
/// thread of its own, and the caller stops waiting at the deadline without waiting for the
/// thread, so a name that hangs neither holds a caller past its deadline nor starves NIO's shared
/// thread pool. At most `limit` lookups run at once; beyond that a lookup fails at once.
public final class AddressResolver: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Too many lookups are running (some may hang on a name server): this one was not tried.
    public struct Busy: Error {}

    private let running = Atomic(0)
    private let limit: Int

    public init(limit: Int = 64) { self.limit = limit }

    public func resolve(_ host: String, within timeout: Duration = .seconds(5)) async throws -> [[UInt8]] {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard running.add(1, ordering: .relaxed).newValue <= limit else {
            running.subtract(1, ordering: .relaxed)
            throw Busy()
        }
        return try await withCheckedThrowingContinuation { continuation in
            let answer = Answer(continuation)
            let timer = MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
                answer.give(.failure(Failure(description: "\(name) did not resolve within \(timeout)")))
            }
            Thread.detachNewThread {
                let result = Result { try Self.lookup(name) }
                self.running.subtract(1, ordering: .relaxed)
                timer.cancel()
                answer.give(result)
            }
        }
    }

    /// Resumes its continuation once: with the lookup's result or the deadline's failure, whichever is first.
    private final class Answer: Sendable {
        private let continuation: Mutex<CheckedContinuation<[[UInt8]], any Error>?>

        init(_ continuation: CheckedContinuation<[[UInt8]], any Error>) { self.continuation = Mutex(continuation) }

        func give(_ result: Result<[[UInt8]], any Error>) {
            let waiting = continuation.withLock { c in
                defer { c = nil }
                return c
            }
            waiting?.resume(with: result)
        }
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
        return "[" + bare(address) + "]"
    }

    /// An address as text without brackets.
    public static func bare(_ address: [UInt8]) -> String {
        if address.count == 4 { return text(address) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        address.withUnsafeBytes { bytes in _ = inet_ntop(AF_INET6, bytes.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(cString: buffer)
    }
}
