import Domain
import Foundation
import Logging

/// One line per event on stderr: human-readable text (the default) or one JSON object for log
/// shippers (`AMS_LOG_FORMAT=json`). Metadata is formatted only when a line is written: swift-log's
/// `StreamLogHandler` formats it on every set, and Hummingbird sets a request id on every request,
/// which cost ~5% of a cached GET.
struct LineLogHandler: LogHandler {
    let label: String
    let format: AppConfiguration.LogFormat
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        let timestamp = Agent.timestamp(Date())
        var line: [UInt8]
        switch format {
        case .json:
            var fields: [String: JSONValue] = [
                "ts": .string(timestamp), "level": .string(event.level.rawValue),
                "msg": .string(event.message.description), "logger": .string(label),
            ]
            for (key, value) in all { fields[key] = .string(value.description) }
            line = JSONValue.object(fields).encoded
        case .text:
            var text = "\(timestamp) \(event.level) \(label): \(event.message)"
            for key in all.keys.sorted() { text += " \(key)=" + Self.quoted(all[key]!.description) }
            line = Array(text.utf8)
        }
        line.append(UInt8(ascii: "\n"))
        FileHandle.standardError.write(Data(line))
    }

    /// A value as it is when it cannot be mistaken for more fields or lines, else as a JSON
    /// string: a client-chosen request id must not forge `status=200` into an access-log line.
    static func quoted(_ value: String) -> String {
        // Most values are plain ASCII: judged byte by byte, without Unicode property lookups.
        let ascii = value.utf8.allSatisfy {
            $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\\")
        }
        if ascii && !value.isEmpty { return value }
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy { scalar in
                scalar.value > 0x20 && scalar.value != 0x7F && scalar != "\"" && scalar != "=" && scalar != "\\"
                    && !scalar.properties.isWhitespace
                    && ![.control, .format, .lineSeparator, .paragraphSeparator].contains(scalar.properties.generalCategory)
            }
        return plain ? value : String(decoding: JSONValue.string(value).encoded, as: UTF8.self)
    }
}
