/// One entry of a Redis Stream; `fields` is `nil` for an entry deleted while it was pending.
public struct StreamEntry: Sendable, Hashable {
    public var id: String
    public var fields: [String: String]?

    public init(id: String, fields: [String: String]?) {
        self.id = id
        self.fields = fields
    }
}

/// The stream commands the task queues need, with their replies parsed.
extension RedisClient {
    /// `XADD key [MAXLEN ~ n] * field value …`; answers the entry id.
    @discardableResult
    public func xadd(_ key: String, _ fields: [(String, String)], maxLength: Int? = nil) async throws -> String {
        var command = ["XADD", key]
        if let maxLength { command += ["MAXLEN", "~", String(maxLength)] }
        command.append("*")
        for (name, value) in fields { command += [name, value] }
        guard let id = try await send(command).string else { throw RedisError.protocolError("XADD answered no id") }
        return id
    }

    /// Creates `group` on `key` (and the stream, empty, if it is missing); an existing group stays.
    public func ensureGroup(_ key: String, group: String) async throws {
        do {
            _ = try await send("XGROUP", "CREATE", key, group, "0", "MKSTREAM")
        } catch RedisError.server(let message) where message.hasPrefix("BUSYGROUP") {
            return
        }
    }

    /// New entries for `consumer` from each of `keys`, at most `count` per key, without blocking.
    /// A key whose group is gone answers `RedisError.server("NOGROUP …")`.
    public func readGroup(_ group: String, consumer: String, keys: [String], count: Int) async throws -> [String: [StreamEntry]] {
        guard !keys.isEmpty else { return [:] }
        let command = ["XREADGROUP", "GROUP", group, consumer, "COUNT", String(count), "STREAMS"] + keys + keys.map { _ in ">" }
        var found: [String: [StreamEntry]] = [:]
        for stream in try await send(command).array ?? [] {
            guard let pair = stream.array, pair.count == 2, let key = pair[0].string else { continue }
            found[key] = Self.entries(pair[1])
        }
        return found
    }

    /// The entries of a stream reply; one deleted while pending has no fields.
    public static func entries(_ value: RedisValue) -> [StreamEntry] {
        (value.array ?? []).compactMap { raw in
            guard let parts = raw.array, parts.count == 2, let id = parts[0].string else { return nil }
            guard let flat = parts[1].array else { return StreamEntry(id: id, fields: nil) }
            var fields: [String: String] = [:]
            var i = 0
            while i + 1 < flat.count {
                if let name = flat[i].string { fields[name] = flat[i + 1].string ?? "" }
                i += 2
            }
            return StreamEntry(id: id, fields: fields)
        }
    }
}
