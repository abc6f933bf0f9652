/// A reply from Redis, as hiredis's reader parsed it.
public enum RedisValue: Sendable, Hashable {
    case status(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8])
    case null
    case array([RedisValue])

    /// A bulk or status reply as text.
    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    public var integer: Int? {
        switch self {
        case .integer(let value): value
        case .bulk, .status: string.flatMap { Int($0) }
        default: nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let items) = self { items } else { nil }
    }
}

/// Why a Redis call failed. `server` is an error reply; the others mean the connection cannot be trusted.
public enum RedisError: Error, Equatable, CustomStringConvertible {
    /// Not connected, and not trying again yet (after a failed connect, for the back-off).
    case unavailable(String)
    case timeout
    case connectionClosed
    case protocolError(String)
    case server(String)

    public var description: String {
        switch self {
        case .unavailable(let why): "Redis is unavailable: \(why)"
        case .timeout: "Redis did not answer in time"
        case .connectionClosed: "the Redis connection closed"
        case .protocolError(let why): "Redis protocol error: \(why)"
        case .server(let message): "Redis error: \(message)"
        }
    }
}
