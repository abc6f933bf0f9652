public import Foundation

extension JSONValue {
    /// Parses UTF-8 JSON (RFC 8259) bytes; `nil` when they are not JSON. Hand-written because going
    /// through `JSONDecoder` cost about a tenth of request CPU.
    public static func parse(_ bytes: some DataProtocol) -> JSONValue? {
        if let parsed = bytes.withContiguousStorageIfAvailable(JSONParser.parse) { return parsed }
        return Array(bytes).withUnsafeBufferPointer(JSONParser.parse)
    }
}

/// A recursive-descent parser over one contiguous buffer: no copies except string contents, and
/// string slices without escapes become `String`s in one validating step.
struct JSONParser {
    struct Failure: Error {}

    /// Deep enough for any real document, shallow enough that hostile input cannot exhaust the stack.
    static let maxDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// The single value the buffer holds, surrounded by nothing but whitespace.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        var parser = JSONParser(bytes: bytes)
        do {
            parser.skipWhitespace()
            let value = try parser.value()
            parser.skipWhitespace()
            return parser.index == bytes.count ? value : nil
        } catch {
            return nil
        }
    }

    private mutating func value() throws(Failure) -> JSONValue {
        guard index < bytes.count else { throw Failure() }
        switch bytes[index] {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw Failure()
        }
    }

    // MARK: Containers

    private mutating func array() throws(Failure) -> JSONValue {
        try enter()
        var items: [JSONValue] = []
        skipWhitespace()
        if try peek() == UInt8(ascii: "]") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                items.append(try value())
                skipWhitespace()
                let separator = try next()
                if separator == UInt8(ascii: "]") { break }
                guard separator == UInt8(ascii: ",") else { throw Failure() }
            }
        }
        depth -= 1
        return .array(items)
    }

    /// Duplicate keys are allowed by RFC 8259; the last one wins, as in most parsers.
    private mutating func object() throws(Failure) -> JSONValue {
        try enter()
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if try peek() == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                guard try peek() == UInt8(ascii: "\"") else { throw Failure() }
                let key = try string()
                skipWhitespace()
                guard try next() == UInt8(ascii: ":") else { throw Failure() }
                skipWhitespace()
                members[key] = try value()
                skipWhitespace()
                let separator = try next()
                if separator == UInt8(ascii: "}") { break }
                guard separator == UInt8(ascii: ",") else { throw Failure() }
            }
        }
        depth -= 1
        return .object(members)
    }

    /// Consumes the opening bracket and counts the level.
    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw Failure() }
        index += 1
    }

    // MARK: Scalars

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw Failure() }
        for k in 0..<count where bytes[index + k] != word.utf8Start[k] { throw Failure() }
        index += count
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; an integer that fits in `Int` stays
    /// exact, anything else is a `Double`. Out-of-range values (`1e400`) are refused, not infinite.
    private mutating func number() throws(Failure) -> JSONValue {
        let start = index
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        let integerStart = index
        guard index < bytes.count, isDigit(bytes[index]) else { throw Failure() }
        if bytes[index] == UInt8(ascii: "0") { index += 1 } else { skipDigits() }
        let integerEnd = index
        var fractionDigits = 0
        var exponent = 0
        var exponentDigits = 0
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            let fractionStart = index
            skipDigits()
            fractionDigits = index - fractionStart
            guard fractionDigits > 0 else { throw Failure() }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            index += 1
            var exponentNegative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            let exponentStart = index
            skipDigits()
            exponentDigits = index - exponentStart
            guard exponentDigits > 0 else { throw Failure() }
            for k in exponentStart..<min(index, exponentStart + 4) { exponent = exponent * 10 + Int(bytes[k] &- UInt8(ascii: "0")) }
            if exponentNegative { exponent = -exponent }
        }
        if isInteger, let int = integer(integerStart..<integerEnd, negative: negative) { return .int(int) }
        let double =
            exponentDigits <= 4
            ? fastDouble(start: integerStart, integerEnd: integerEnd, fractionDigits: fractionDigits, exponent: exponent, negative: negative)
            : nil
        guard let value = double ?? Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)),
            value.isFinite
        else { throw Failure() }
        return .double(value)
    }

    /// Accumulates in the negative range so `Int.min` fits; `nil` on overflow.
    private func integer(_ digits: Range<Int>, negative: Bool) -> Int? {
        var value = 0
        for k in digits {
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = shifted.subtractingReportingOverflow(Int(bytes[k] &- UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = next
        }
        if negative { return value }
        return value == .min ? nil : -value
    }

    private static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// Clinger's fast path: a mantissa below 2^53 and a power of ten up to 1e22 are both exact, so a
    /// single multiplication or division is correctly rounded. `nil` sends the caller to the full parser.
    private func fastDouble(start: Int, integerEnd: Int, fractionDigits: Int, exponent: Int, negative: Bool) -> Double? {
        let digitCount = integerEnd - start + fractionDigits
        guard digitCount <= 15 else { return nil }
        let scale = exponent - fractionDigits
        guard abs(scale) <= 22 else { return nil }
        var mantissa: UInt64 = 0
        for k in start..<integerEnd { mantissa = mantissa * 10 + UInt64(bytes[k] &- UInt8(ascii: "0")) }
        for k in (integerEnd + 1)..<(integerEnd + 1 + fractionDigits) { mantissa = mantissa * 10 + UInt64(bytes[k] &- UInt8(ascii: "0")) }
        var value = Double(mantissa)
        value = scale >= 0 ? value * Self.powersOfTen[scale] : value / Self.powersOfTen[-scale]
        return negative ? -value : value
    }

    // MARK: Strings

    /// Reads a string from its opening quote. Plain slices are decoded in one step; escapes switch to
    /// a byte buffer that is decoded once at the end.
    private mutating func string() throws(Failure) -> String {
        index += 1
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = try decode(UnsafeBufferPointer(rebasing: bytes[start..<index]))
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            guard byte >= 0x20 else { throw Failure() }
            index += 1
        }
        throw Failure()
    }

    private mutating func escapedString(from start: Int) throws(Failure) -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(index - start + 16)
        var runStart = start
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                index += 1
                guard let text = String(validating: buffer, as: UTF8.self) else { throw Failure() }
                return text
            case UInt8(ascii: "\\"):
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                index += 1
                try unescape(into: &buffer)
                runStart = index
            case 0..<0x20:
                throw Failure()
            default:
                index += 1
            }
        }
        throw Failure()
    }

    /// Appends the character of the escape after a backslash as UTF-8.
    private mutating func unescape(into buffer: inout [UInt8]) throws(Failure) {
        switch try next() {
        case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
        case UInt8(ascii: "/"): buffer.append(UInt8(ascii: "/"))
        case UInt8(ascii: "b"): buffer.append(0x08)
        case UInt8(ascii: "f"): buffer.append(0x0C)
        case UInt8(ascii: "n"): buffer.append(0x0A)
        case UInt8(ascii: "r"): buffer.append(0x0D)
        case UInt8(ascii: "t"): buffer.append(0x09)
        case UInt8(ascii: "u"):
            var code = try hex4()
            switch code {
            case 0xD800...0xDBFF:
                guard try next() == UInt8(ascii: "\\"), try next() == UInt8(ascii: "u") else { throw Failure() }
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw Failure() }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            case 0xDC00...0xDFFF:
                throw Failure()
            default:
                break
            }
            // Postgres keeps no U+0000 in text or jsonb: refused here, it is a clear 400, not a failed write.
            guard code != 0, let scalar = Unicode.Scalar(code) else { throw Failure() }
            buffer.append(contentsOf: UTF8.encode(scalar)!)
        default:
            throw Failure()
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard bytes.count - index >= 4 else { throw Failure() }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8 =
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
                default: throw Failure()
                }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }

    /// Invalid UTF-8 is refused rather than repaired: RFC 8259 text is UTF-8.
    private func decode(_ utf8: UnsafeBufferPointer<UInt8>) throws(Failure) -> String {
        guard let text = String(validating: utf8, as: UTF8.self) else { throw Failure() }
        return text
    }

    // MARK: Cursor

    private func peek() throws(Failure) -> UInt8 {
        guard index < bytes.count else { throw Failure() }
        return bytes[index]
    }

    private mutating func next() throws(Failure) -> UInt8 {
        guard index < bytes.count else { throw Failure() }
        defer { index += 1 }
        return bytes[index]
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func skipDigits() {
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }
}
