/// A string-backed value that keeps unknown input, so the field validator (not the parser) reports
/// "`type` must be one of …" with the offending value and every other issue alongside it.
public protocol OpenEnum: RawRepresentable, Hashable, Sendable, CustomStringConvertible where RawValue == String {
    init(rawValue: String)
    static var known: [Self] { get }
}

extension OpenEnum {
    public var isKnown: Bool { Self.known.contains(self) }
    public var description: String { rawValue }
    public static var knownNames: [String] { known.map(\.rawValue) }
}
