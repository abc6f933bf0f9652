import Foundation
import Infra
import NIOCore
import NIOPosix

/// A redis-server of the test's own on a free port, to be killed and started again.
public final class PrivateRedis: @unchecked Sendable {
    /// Fixed once the server first started; restarts keep it.
    public private(set) var port: Int
    private var started = false
    public let password: String?
    private let appendOnly: Bool
    private let directory: URL
    private var process: Process?

    /// `appendOnly`: every write is fsynced to an AOF file first, so a SIGKILL loses nothing.
    public init(password: String? = nil, appendOnly: Bool = false) throws {
        self.password = password
        self.appendOnly = appendOnly
        self.port = try Self.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ams-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Starts the server and waits until it listens. A port picked free can be taken by another
    /// listener before the server binds it (the server then exits): a first start picks another.
    public func start() async throws {
        for _ in 0..<5 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try Self.redisServer())
            process.arguments =
                [
                    "--bind", "127.0.0.1", "--port", String(port), "--dir", directory.path, "--save", "",
                    "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", "always",
                ]
                + (password.map { ["--requirepass", $0] } ?? [])
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            self.process = process
            for _ in 0..<100 where process.isRunning {
                if (try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get())
                    .map({ $0.close(promise: nil) }) != nil
                {
                    // What answered may be another listener on the port, if this server could not bind it.
                    try await Task.sleep(for: .milliseconds(100))
                    if process.isRunning {
                        started = true
                        return
                    }
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard !started else { break }
            stop()
            port = try Self.freePort()
        }
        throw RedisError.unavailable("the test's redis-server did not start")
    }

    /// SIGKILL: no goodbye to the clients.
    public func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private static func redisServer() throws -> String {
        for path in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw RedisError.unavailable("redis-server is not installed")
    }

    private static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? channel.close().wait() }
        return channel.localAddress?.port ?? 0
    }
}
