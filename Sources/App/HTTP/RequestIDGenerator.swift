import Synchronization

/// Request ids for requests that bring none: a random per-process prefix and a counter, 32 hex
/// digits, formatted by hand (Hummingbird's `context.id` goes through logger metadata and string
/// concatenation, which showed in the cached GET profile).
final class RequestIDGenerator: Sendable {
    private let prefix = UInt64.random(in: 0 ... .max)
    private let counter = Atomic<UInt64>(UInt64.random(in: 0 ... .max))

    func next() -> String {
        let low = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let high = prefix
        return String(unsafeUninitializedCapacity: 32) { buffer in
            let digits: StaticString = "0123456789abcdef"
            digits.withUTF8Buffer { hex in
                for i in 0..<16 {
                    buffer[i] = hex[Int(truncatingIfNeeded: high >> (60 - 4 * UInt64(i))) & 0xF]
                    buffer[16 + i] = hex[Int(truncatingIfNeeded: low >> (60 - 4 * UInt64(i))) & 0xF]
                }
            }
            return 32
        }
    }
}
