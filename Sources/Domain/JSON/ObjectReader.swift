/// Reads a JSON object strictly: unknown keys and wrong types are refused with the field's JSON
/// Pointer, so a typo such as `temprature` is never silently dropped. `null` reads as absent.
public struct ObjectReader: Sendable {
    public let members: [String: JSONValue]
    public let path: String

    /// `lenient` ignores unknown keys: for stored rows, which a newer release may have written with
    /// fields this one does not know. Strictness is for request bodies only.
    public init(_ value: JSONValue, at path: String, allowed: Set<String>, lenient: Bool = false) throws(ServiceError) {
        guard case .object(let members) = value else {
            throw .malformed(path.isEmpty ? "Body must be a JSON object" : "\(path) must be an object", field: path.isEmpty ? nil : path)
        }
        if !lenient, let unknown = members.keys.filter({ !allowed.contains($0) }).sorted().first {
            throw .malformed("Unknown field '\(unknown)'", field: "\(path)/\(unknown)")
        }
        self.members = members
        self.path = path
    }

    public func has(_ key: String) -> Bool { members[key] != nil }

    public func value(_ key: String) -> JSONValue? {
        guard let v = members[key], v != .null else { return nil }
        return v
    }

    public func string(_ key: String) throws(ServiceError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw mismatch(key, "a string", v) }
        return s
    }

    public func int(_ key: String) throws(ServiceError) -> Int? {
        guard let v = value(key) else { return nil }
        switch v {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9e15: return Int(d)
        default: throw mismatch(key, "an integer", v)
        }
    }

    public func double(_ key: String) throws(ServiceError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.numberValue else { throw mismatch(key, "a number", v) }
        return d
    }

    public func bool(_ key: String) throws(ServiceError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw mismatch(key, "a boolean", v) }
        return b
    }

    public func array(_ key: String) throws(ServiceError) -> [JSONValue]? {
        guard let v = value(key) else { return nil }
        guard case .array(let a) = v else { throw mismatch(key, "an array", v) }
        return a
    }

    public func strings(_ key: String) throws(ServiceError) -> [String]? {
        guard let items = try array(key) else { return nil }
        var result: [String] = []
        result.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else {
                throw .malformed("\(path)/\(key)/\(i) must be a string, not \(item.typeName)", field: "\(path)/\(key)/\(i)")
            }
            result.append(s)
        }
        return result
    }

    public func object(_ key: String) throws(ServiceError) -> [String: JSONValue]? {
        guard let v = value(key) else { return nil }
        guard case .object(let o) = v else { throw mismatch(key, "an object", v) }
        return o
    }

    private func mismatch(_ key: String, _ expected: String, _ got: JSONValue) -> ServiceError {
        .malformed("\(path)/\(key) must be \(expected), not \(got.typeName)", field: "\(path)/\(key)")
    }
}
