/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), so a request's log lines
/// can be joined with its trace: the caller's header, or with tracing on the request span's own
/// (`EnvelopeMiddleware`). A malformed header, or the all-zero id the specification calls invalid,
/// is ignored, as the specification asks.
enum TraceParent {
    static func traceID(_ header: String) -> Substring? {
        let utf8 = header.utf8
        guard utf8.count >= 55 else { return nil }
        let fields = header.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count >= 4,
            fields[0].utf8.count == 2, fields[0] != "ff",
            fields[1].utf8.count == 32, fields[2].utf8.count == 16, fields[3].utf8.count == 2,
            fields[0...3].allSatisfy({ $0.utf8.allSatisfy(isLowerHex) }),
            fields[1].utf8.contains(where: { $0 != UInt8(ascii: "0") }),
            fields[2].utf8.contains(where: { $0 != UInt8(ascii: "0") }),
            fields[0] != "00" || fields.count == 4
        else { return nil }
        return fields[1]
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}
