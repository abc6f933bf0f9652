/// Writes JSON into a byte array with a fixed key order for typed models and sorted keys for free-form
/// objects, so the same agent always encodes to the same bytes (cacheable, comparable, ETag-friendly).
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    public init(capacity: Int = 1024) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }
    public mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }
    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }
    public mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes `"key":`; the value that follows must not add a separator of its own.
    public mutating func key(_ key: String) {
        separate()
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    public mutating func value(_ string: String) {
        separate()
        writeString(string)
    }
    public mutating func value(_ int: Int) {
        separate()
        bytes.append(contentsOf: String(int).utf8)
    }
    public mutating func value(_ bool: Bool) {
        separate()
        bytes.append(contentsOf: (bool ? "true" : "false").utf8)
    }
    /// Bytes that are already one encoded JSON value (a cached agent, say).
    public mutating func raw(_ encoded: some Collection<UInt8>) {
        separate()
        bytes.append(contentsOf: encoded)
    }
    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    public mutating func value(_ double: Double) {
        separate()
        if double.isFinite, double == double.rounded(), abs(double) < 1e15 {
            bytes.append(contentsOf: String(Int(double)).utf8)
        } else if double.isFinite {
            bytes.append(contentsOf: String(double).utf8)
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
    }

    public mutating func value(_ string: String?) {
        if let string { value(string) } else { null() }
    }

    public mutating func value(_ json: JSONValue) {
        switch json {
        case .null: null()
        case .bool(let b): value(b)
        case .int(let i): value(i)
        case .double(let d): value(d)
        case .string(let s): value(s)
        case .array(let items):
            beginArray()
            for item in items { value(item) }
            endArray()
        case .object(let members):
            beginObject()
            for name in members.keys.sorted() {
                key(name)
                value(members[name]!)
            }
            endObject()
        }
    }

    public mutating func field(_ name: String, _ string: String) {
        key(name)
        value(string)
    }
    public mutating func field(_ name: String, _ string: String?) {
        key(name)
        value(string)
    }
    public mutating func field(_ name: String, _ int: Int) {
        key(name)
        value(int)
    }
    public mutating func field(_ name: String, _ bool: Bool) {
        key(name)
        value(bool)
    }
    public mutating func field(_ name: String, _ json: JSONValue) {
        key(name)
        value(json)
    }
    public mutating func field(_ name: String, _ strings: [String]) {
        key(name)
        beginArray()
        for s in strings { value(s) }
        endArray()
    }

    private mutating func separate() {
        let top = needsComma.count - 1
        if needsComma[top] { bytes.append(UInt8(ascii: ",")) }
        needsComma[top] = true
    }

    /// Copies runs of plain bytes at once; only quotes, backslashes and control characters are escaped.
    private mutating func writeString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var start = 0
            for i in utf8.indices {
                let byte = utf8[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                escape(byte)
                start = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ byte: UInt8) {
        bytes.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
        case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
        default:
            let hex: StaticString = "0123456789abcdef"
            bytes.append(contentsOf: [
                UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                hex.utf8Start[Int(byte >> 4)], hex.utf8Start[Int(byte & 0xF)],
            ])
        }
    }
}

extension JSONValue {
    /// Canonical encoding (sorted keys).
    public var encoded: [UInt8] {
        var writer = JSONWriter(capacity: 256)
        writer.value(self)
        return writer.bytes
    }
}
