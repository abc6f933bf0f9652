import HTTPTypes
import Hummingbird

extension Request {
    /// The version `If-Match` requires, `nil` when it requires none (absent, or `*`). Tags compare
    /// strongly (RFC 9110): a weak or foreign tag can never match, so it comes back as version 0,
    /// which no agent has, and the write is refused with the current version.
    var ifMatchVersion: Int? {
        guard let header = headers[.ifMatch] else { return nil }
        var sawTag = false
        for tag in header.split(separator: ",") {
            let t = tag.trimmingCharacters(in: .whitespaces)
            if t == "*" { return nil }
            sawTag = true
            if t.count > 2, t.first == "\"", t.last == "\"", let version = Int32(t.dropFirst().dropLast()), version > 0 { return Int(version) }
        }
        return sawTag ? 0 : nil
    }
}
