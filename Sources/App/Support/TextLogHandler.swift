import Domain
import Foundation
import Logging

/// One human-readable line per event on stderr (`AMS_LOG_FORMAT=text`, the default). Metadata is
/// formatted only when a line is written: swift-log's `StreamLogHandler` formats it on every set,
/// and Hummingbird sets a request id on every request, which cost ~5% of a cached GET.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(Agent.timestamp(Date())) \(event.level) \(label): \(event.message)"
        let all = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        for key in all.keys.sorted() {
            line += " \(key)=\(all[key]!)"
        }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
