import Domain
import Foundation
import Logging

/// One line per event on stderr, through `LogSink` (written off the caller's path): human-readable
/// text (the default) or one JSON object for log shippers (`AMS_LOG_FORMAT=json`). Metadata is
/// formatted only when a line is written: swift-log's `StreamLogHandler` formats it on every set,
/// and Hummingbird sets a request id on every request, which cost ~5% of a cached GET.
struct LineLogHandler: LogHandler {
    let label: String
    let format: AppConfiguration.LogFormat
    var logLevel: Logger.Level = .info
    var sink = LogSink.standardError
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let timestamp = Agent.timestamp(Date())
        var line: [UInt8]
        switch format {
        case .json:
            var fields: [String: JSONValue] = [
                "ts": .string(timestamp), "level": .string(event.level.rawValue),
                "msg": .string(event.message.description), "logger": .string(label),
            ]
            for (key, value) in pairs(event.metadata) { fields[key] = .string(Self.text(value)) }
            line = JSONValue.object(fields).encoded
        case .text:
            line = []
            line.reserveCapacity(320)
            line += timestamp.utf8
            line.append(UInt8(ascii: " "))
            line += event.level.rawValue.utf8
            line.append(UInt8(ascii: " "))
            line += label.utf8
            line += ": ".utf8
            line += event.message.description.utf8
            for (key, value) in pairs(event.metadata).sorted(by: { $0.key < $1.key }) {
                line.append(UInt8(ascii: " "))
                line += key.utf8
                line.append(UInt8(ascii: "="))
                line += Self.quoted(Self.text(value)).utf8
            }
        }
        line.append(UInt8(ascii: "\n"))
        sink.write(line)
        // A critical line is often a process's last: it is written before the caller goes on.
        if event.level == .critical { sink.flush() }
    }

    /// The handler's metadata and the event's (which wins), as a list: merging them into a new
    /// dictionary took a third of the time an access-log line cost.
    private func pairs(_ extra: Logger.Metadata?) -> [(key: String, value: Logger.MetadataValue)] {
        guard let extra, !extra.isEmpty else { return metadata.map { ($0.key, $0.value) } }
        var all = extra.map { ($0.key, $0.value) }
        for (key, value) in metadata where extra[key] == nil { all.append((key, value)) }
        return all
    }

    /// A value's text; a string as it is, without going through `description`.
    private static func text(_ value: Logger.MetadataValue) -> String {
        if case .string(let text) = value { return text }
        return value.description
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
