/// RFC 6901 reference tokens. Keys rarely hold `~` or `/`, so both directions return the key
/// untouched without a scan through Foundation (that bridge cost a create 2% of its CPU).
public enum JSONPointer {
    public static func escape<S: StringProtocol>(_ key: S) -> String {
        guard key.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return String(key) }
        var out = ""
        for character in key.unicodeScalars {
            switch character {
            case "~": out += "~0"
            case "/": out += "~1"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// Decodes `~1` before `~0`, so `~01` stays the text `~1`.
    public static func unescape<S: StringProtocol>(_ token: S) -> String {
        guard token.utf8.contains(UInt8(ascii: "~")) else { return String(token) }
        var out = ""
        var scalars = token.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            guard scalar == "~" else { out.unicodeScalars.append(scalar); continue }
            switch scalars.next() {
            case "0": out += "~"
            case "1": out += "/"
            case let other?: out += "~"; out.unicodeScalars.append(other)
            case nil: out += "~"
            }
        }
        return out
    }
}
