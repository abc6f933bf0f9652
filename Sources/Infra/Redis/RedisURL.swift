/// `redis://[[user]:password@]host[:port][/db]`, as `AMS_REDIS_URL` gives it.
public struct RedisURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int

    public init(_ text: String) throws(ConfigurationError) {
        guard text.hasPrefix("redis://") else { throw ConfigurationError("AMS_REDIS_URL must start with redis:// (got \(Self.redacted(text)))") }
        var rest = Substring(text.dropFirst("redis://".count))
        if let path = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: path)...]
            guard db.isEmpty || Int(db).map({ $0 >= 0 }) == true else {
                throw ConfigurationError("AMS_REDIS_URL: the database must be a number (got \(db))")
            }
            database = Int(db) ?? 0
            rest = rest[..<path]
        } else {
            database = 0
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                username = user.isEmpty ? nil : try Self.decode(user)
                password = try Self.decode(credentials[credentials.index(after: colon)...])
            } else {
                username = nil
                password = try Self.decode(credentials)
            }
        } else {
            username = nil
            password = nil
        }
        if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
                throw ConfigurationError("AMS_REDIS_URL: the port must be a number from 1 to 65535")
            }
            self.port = port
            host = String(rest[..<colon])
        } else {
            port = 6379
            host = String(rest)
        }
        guard !host.isEmpty else { throw ConfigurationError("AMS_REDIS_URL names no host") }
    }

    /// Percent-escapes decode once.
    private static func decode(_ text: Substring) throws(ConfigurationError) -> String {
        var bytes: [UInt8] = []
        var i = text.utf8.startIndex
        let utf8 = text.utf8
        while i < utf8.endIndex {
            if utf8[i] == UInt8(ascii: "%") {
                let hex = utf8.index(i, offsetBy: 3, limitedBy: utf8.endIndex).map {
                    String(decoding: utf8[utf8.index(after: i)..<$0], as: UTF8.self)
                }
                guard let hex, hex.count == 2, let byte = UInt8(hex, radix: 16) else {
                    throw ConfigurationError("AMS_REDIS_URL has a bad %-escape")
                }
                bytes.append(byte)
                i = utf8.index(i, offsetBy: 3)
            } else {
                bytes.append(utf8[i])
                i = utf8.index(after: i)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@") else { return text }
        return "…@" + text[text.index(after: at)...]
    }
}
