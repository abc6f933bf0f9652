public import Foundation

extension UUID {
    /// The canonical `8-4-4-4-12` hex form, either case; `nil` otherwise. Foundation's
    /// `UUID(uuidString:)` goes through `sscanf`, which showed in the profile of a cached GET.
    public init?(canonical text: String) {
        var text = text
        guard let parsed = text.withUTF8(Self.parse) else { return nil }
        self.init(uuid: parsed)
    }

    public init?(canonical text: Substring) {
        var text = text
        guard let parsed = text.withUTF8(Self.parse) else { return nil }
        self.init(uuid: parsed)
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> uuid_t? {
        guard bytes.count == 36 else { return nil }
        var out: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var index = 0
        let ok = withUnsafeMutableBytes(of: &out) { raw -> Bool in
            for i in 0..<16 {
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    guard bytes[index] == UInt8(ascii: "-") else { return false }
                    index += 1
                }
                guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return false }
                raw[i] = high << 4 | low
                index += 2
            }
            return true
        }
        return ok ? out : nil
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
