import Domain
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import App

/// Log lines written off the caller's path (`LogSink`): in order, dropped and counted when the
/// buffer is full, all written on a flush and when a command exits.
@Suite struct LogSinkTests {
    static func logger(_ sink: LogSink) -> Logger {
        Logger(label: "test") { LineLogHandler(label: $0, format: .text, sink: sink) }
    }

    /// The lines `logger` wrote, numbered by the `n` in their metadata.
    static func numbers(_ text: String) -> [Int] {
        text.split(separator: "\n").compactMap { line in line.split(separator: " ").last.flatMap { Int($0.dropFirst("n=".count)) } }
    }

    @Test func linesAreWrittenInOrderByTheFlush() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString)").path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(descriptor >= 0)
        defer {
            close(descriptor)
            try? FileManager.default.removeItem(atPath: path)
        }
        let sink = LogSink(descriptor: descriptor)
        defer { sink.close() }
        let logger = Self.logger(sink)
        for n in 0..<5000 { logger.info("line", metadata: ["n": "\(n)"]) }
        #expect(sink.flush())
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(Self.numbers(text) == Array(0..<5000))
        #expect(sink.dropped == 0)
    }

    /// A text line: time, level, label, message, then the fields sorted by key, the event's
    /// winning over the logger's; JSON has the same fields.
    @Test func aLineHasTheLoggersFieldsAndTheEventsSorted() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString)").path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(descriptor >= 0)
        defer {
            close(descriptor)
            try? FileManager.default.removeItem(atPath: path)
        }
        let sink = LogSink(descriptor: descriptor)
        defer { sink.close() }
        for format in [AppConfiguration.LogFormat.text, .json] {
            var logger = Logger(label: "test") { LineLogHandler(label: $0, format: format, sink: sink) }
            logger[metadataKey: "b"] = "logger"
            logger[metadataKey: "a"] = "x"
            logger.notice("hello", metadata: ["b": "event", "c": "1 2", "n": .stringConvertible(7)])
        }
        #expect(sink.flush())
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        try #require(lines.count == 2)
        #expect(lines[0].hasSuffix(#" notice test: hello a=x b=event c="1 2" n=7"#), "\(lines[0])")
        let json = try #require(JSONValue.parse(Array(lines[1].utf8)))
        #expect(json["msg"] == .string("hello") && json["level"] == .string("notice") && json["logger"] == .string("test"))
        #expect(json["a"] == .string("x") && json["b"] == .string("event") && json["c"] == .string("1 2") && json["n"] == .string("7"))
    }

    /// stderr that nobody reads: the writer is stuck, the buffer fills, and further lines are
    /// dropped and counted (on `/metrics` too) without the caller waiting; what was buffered is
    /// written once the reader is back.
    @Test(.timeLimit(.minutes(1))) func aFullBufferDropsAndCountsWithoutWaiting() async throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        // The pipe filled first, so the writer's first write blocks.
        let flags = fcntl(ends[1], F_GETFL)
        _ = fcntl(ends[1], F_SETFL, flags | O_NONBLOCK)
        let filler = Array("filler\n".utf8)
        while write(ends[1], filler, filler.count) > 0 {}
        _ = fcntl(ends[1], F_SETFL, flags)
        let sink = LogSink(descriptor: ends[1], capacity: 4096)
        let logger = Self.logger(sink)
        var accepted = 0
        for n in 0..<100_000 {
            logger.info("line", metadata: ["n": "\(n)"])
            if sink.dropped > 0 { break }
            accepted += 1
        }
        try #require(sink.dropped == 1, "the line after the buffer filled was dropped")
        for n in accepted + 1..<accepted + 11 { logger.info("line", metadata: ["n": "\(n)"]) }
        #expect(sink.dropped == 11)

        var config = try TestSupport.configuration()
        config.metrics = true
        var quiet = logger
        quiet.logLevel = .critical
        try await buildApplication(config, logger: quiet).test(.router) { client in
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains("ams_log_lines_dropped_total 11"), "\(metrics)")
        }

        let (reader, writer) = (ends[0], ends[1])
        let text = await withCheckedContinuation { (done: CheckedContinuation<String, Never>) in
            Thread.detachNewThread {
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(reader, &chunk, chunk.count)
                    if n <= 0 { break }
                    bytes += chunk[..<n]
                }
                done.resume(returning: String(decoding: bytes, as: UTF8.self))
            }
            sink.close()
            close(writer)
        }
        close(reader)
        #expect(Self.numbers(text) == Array(0..<accepted), "every line buffered before the drop, in order, and none after")
    }

    /// A short command's last line reaches stderr: the sink is flushed at exit.
    @Test func aCommandsLastLineIsWrittenBeforeItExits() async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("agent-management")
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "\(binary.path): build it first (swift build --build-tests)")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["migrate"]
        var environment = ProcessInfo.processInfo.environment
        environment["AMS_DATABASE_URL"] = try await TestSupport.freshDatabase()
        environment["AMS_LOG_LEVEL"] = "notice"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("migrations complete"), "\(text)")
    }
}
