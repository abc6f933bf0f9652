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

    /// Decodes as `~1` → `/` and then `~0` → `~` would, so `~01` stays the text `~1`; a `~` before
    /// anything else is kept as it is.
    public static func unescape<S: StringProtocol>(_ token: S) -> String {
        guard token.utf8.contains(UInt8(ascii: "~")) else { return String(token) }
        let scalars = Array(token.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if scalars[i] == "~", i + 1 < scalars.count, scalars[i + 1] == "0" || scalars[i + 1] == "1" {
                out.append(scalars[i + 1] == "0" ? "~" : "/")
                i += 2
            } else {
                out.append(scalars[i])
                i += 1
            }
        }
        return String(out)
    }
}
