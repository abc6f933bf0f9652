/// RFC 6902 JSON Patch between two JSON documents: what versions, diffs and change events show.
/// Objects are compared key by key, recursively, so a change deep in `llm_config` is one `replace`
/// at its own path. Arrays are compared as a whole: an agent's arrays (tools, tags, collections)
/// are short lists whose meaning is the list itself, and index-by-index operations on them would be
/// noise that shifts with every insertion. Keys come out in sorted order, so a diff is stable.
public enum JSONPatch {
    public struct Operation: Sendable, Hashable {
        public enum Kind: String, Sendable {
            case add, remove, replace
        }

        public var op: Kind
        /// A JSON Pointer (RFC 6901).
        public var path: String
        /// `nil` for `remove`.
        public var value: JSONValue?

        public init(_ op: Kind, _ path: String, _ value: JSONValue? = nil) {
            self.op = op
            self.path = path
            self.value = value
        }

        /// Reads one operation as `json` writes it; `nil` for anything else.
        public init?(json: JSONValue) {
            guard let op = json["op"]?.stringValue.flatMap(Kind.init(rawValue:)), let path = json["path"]?.stringValue else { return nil }
            guard (op == .remove) == (json["value"] == nil) else { return nil }
            self.init(op, path, json["value"])
        }

        public var json: JSONValue {
            var fields: [String: JSONValue] = ["op": .string(op.rawValue), "path": .string(path)]
            if let value { fields["value"] = value }
            return .object(fields)
        }
    }

    public struct ApplyError: Error, Sendable, Equatable {
        public let path: String
    }

    /// A patch document (an array of operations); `nil` if any element is not an operation.
    public static func operations(_ json: JSONValue) -> [Operation]? {
        guard case .array(let items) = json else { return nil }
        let operations = items.compactMap(Operation.init(json:))
        return operations.count == items.count ? operations : nil
    }

    public static func diff(_ from: JSONValue, _ to: JSONValue) -> [Operation] {
        var operations: [Operation] = []
        diff(from, to, at: "", into: &operations)
        return operations
    }

    private static func diff(_ from: JSONValue, _ to: JSONValue, at path: String, into operations: inout [Operation]) {
        guard case .object(let old) = from, case .object(let new) = to else {
            if !same(from, to) { operations.append(Operation(.replace, path, to)) }
            return
        }
        for key in old.keys.sorted() where new[key] == nil {
            operations.append(Operation(.remove, path + "/" + escape(key)))
        }
        for key in new.keys.sorted() {
            let child = path + "/" + escape(key)
            if let before = old[key] {
                diff(before, new[key]!, at: child, into: &operations)
            } else {
                operations.append(Operation(.add, child, new[key]!))
            }
        }
    }

    /// Applies `add`, `remove` and `replace` as RFC 6902 defines them, array indexes and `-`
    /// included (the operations this service's diffs use; `move`, `copy` and `test` are not).
    public static func apply(_ operations: [Operation], to document: JSONValue) throws -> JSONValue {
        var document = document
        for operation in operations {
            let tokens = try pointer(operation.path)
            switch operation.op {
            case .add, .replace:
                guard let value = operation.value else { throw ApplyError(path: operation.path) }
                try set(&document, tokens[...], value, insert: operation.op == .add, path: operation.path)
            case .remove:
                guard !tokens.isEmpty else { throw ApplyError(path: operation.path) }
                try remove(&document, tokens[...], path: operation.path)
            }
        }
        return document
    }

    /// JSON equality, where numbers compare by value: `1` and `1.0` are the same JSON number.
    public static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.int(x), .double(y)), let (.double(y), .int(x)): Int(exactly: y) == x
        case let (.array(x), .array(y)): x.count == y.count && zip(x, y).allSatisfy(same)
        case let (.object(x), .object(y)): x.count == y.count && x.allSatisfy { key, value in y[key].map { same(value, $0) } ?? false }
        default: a == b
        }
    }

    static func escape(_ key: String) -> String {
        JSONPointer.escape(key)
    }

    static func pointer(_ path: String) throws -> [String] {
        guard !path.isEmpty else { return [] }
        guard path.hasPrefix("/") else { throw ApplyError(path: path) }
        // RFC 6901: `~` only as `~0` or `~1`.
        let bytes = Array(path.utf8)
        for (i, byte) in bytes.enumerated() where byte == UInt8(ascii: "~") {
            guard i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "0") || bytes[i + 1] == UInt8(ascii: "1") else {
                throw ApplyError(path: path)
            }
        }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            JSONPointer.unescape($0)
        }
    }

    private static func set(_ node: inout JSONValue, _ tokens: ArraySlice<String>, _ value: JSONValue, insert: Bool, path: String) throws {
        guard let token = tokens.first else {
            node = value
            return
        }
        let rest = tokens.dropFirst()
        switch node {
        case .object(var object):
            if rest.isEmpty {
                guard insert || object[token] != nil else { throw ApplyError(path: path) }
                object[token] = value
            } else {
                guard var child = object[token] else { throw ApplyError(path: path) }
                try set(&child, rest, value, insert: insert, path: path)
                object[token] = child
            }
            node = .object(object)
        case .array(var array):
            let index =
                token == "-" && insert && rest.isEmpty ? array.count : try Self.index(token, in: array, inserting: insert && rest.isEmpty, path: path)
            if rest.isEmpty {
                if insert { array.insert(value, at: index) } else { array[index] = value }
            } else {
                try set(&array[index], rest, value, insert: insert, path: path)
            }
            node = .array(array)
        default:
            throw ApplyError(path: path)
        }
    }

    private static func remove(_ node: inout JSONValue, _ tokens: ArraySlice<String>, path: String) throws {
        let token = tokens.first!
        let rest = tokens.dropFirst()
        switch node {
        case .object(var object):
            guard var child = object[token] else { throw ApplyError(path: path) }
            if rest.isEmpty {
                object[token] = nil
            } else {
                try remove(&child, rest, path: path)
                object[token] = child
            }
            node = .object(object)
        case .array(var array):
            let index = try Self.index(token, in: array, inserting: false, path: path)
            if rest.isEmpty { array.remove(at: index) } else { try remove(&array[index], rest, path: path) }
            node = .array(array)
        default:
            throw ApplyError(path: path)
        }
    }

    private static func index(_ token: String, in array: [JSONValue], inserting: Bool, path: String) throws -> Int {
        guard let index = Int(token), String(index) == token, index >= 0, index < array.count + (inserting ? 1 : 0) else {
            throw ApplyError(path: path)
        }
        return index
    }
}
