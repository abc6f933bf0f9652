import Domain
import Foundation
import Infra

/// How the text of a variable (or a flag, such as `token --ttl`) becomes a value; every failure names it.
extension AppConfiguration {
    static func flag(_ text: String, _ name: String) throws -> Bool {
        switch text.lowercased() {
        case "1", "true", "on": true
        case "0", "false", "off": false
        default: throw ConfigurationError("\(name): must be 1 or 0 (or true/false, on/off)")
        }
    }

    static func int(_ text: String, _ name: String) throws -> Int {
        guard let value = Int(text) else { throw ConfigurationError("\(name): not a whole number: '\(text)'") }
        return value
    }

    /// Durations are written `500ms`, `3s`, `5m`, `1h`, `2d`.
    static func duration(_ text: String, _ name: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            if let n = Double(text.dropLast(suffix.count)), n >= 0, !(suffix == "m" && text.hasSuffix("ms")) {
                return .milliseconds(Int64(n * seconds * 1000))
            }
        }
        throw ConfigurationError("\(name): not a duration such as 500ms, 3s, 5m or 1h: '\(text)'")
    }

    /// `200ms,400ms,800ms`: the waits between a webhook delivery's attempts, one to 20 of them.
    static func retrySchedule(_ text: String, _ name: String) throws -> RetrySchedule {
        let delays = try text.split(separator: ",").map { try duration($0.trimmingCharacters(in: .whitespaces), name) }
        guard !delays.isEmpty, delays.count <= 20 else {
            throw ConfigurationError("\(name): one to 20 waits between attempts, such as 200ms,400ms,800ms")
        }
        return RetrySchedule(delays: delays)
    }
}
