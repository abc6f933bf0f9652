import Foundation
import Logging
import NIOCore
import NIOPosix
import RedisTestSupport
import Testing

@testable import Infra

/// The Redis client against a real redis-server (`AMS_TEST_REDIS_URL`, started by scripts/test.sh),
/// and against private servers it starts and kills itself.
@Suite struct RedisClientTests {
    let logger = Logger(label: "test")

    func client(_ url: String? = nil, timeout: Duration = .seconds(2)) throws -> RedisClient {
        let text = try url ?? #require(ProcessInfo.processInfo.environment["AMS_TEST_REDIS_URL"], "run the tests with scripts/test.sh")
        return RedisClient(configuration: .init(url: try RedisURL(text), timeout: timeout), logger: logger)
    }

    func key(_ name: String) -> String { "test.\(name).\(UUID().uuidString)" }

    @Test func repliesOfEveryKind() async throws {
        let redis = try client()
        defer { redis.close() }
        let k = key("kinds")
        #expect(try await redis.send("PING") == .status("PONG"))
        #expect(try await redis.send("SET", k, "välue") == .status("OK"))
        #expect(try await redis.send("GET", k).string == "välue")
        #expect(try await redis.send("GET", k + ".missing") == .null)
        #expect(try await redis.send("EXISTS", k) == .integer(1))
        #expect(try await redis.send("RPUSH", k + ".list", "a", "", "c") == .integer(3))
        #expect(try await redis.send("LRANGE", k + ".list", "0", "-1") == .array([.bulk(Array("a".utf8)), .bulk([]), .bulk(Array("c".utf8))]))
        #expect(try await redis.send("LRANGE", k + ".none", "0", "-1") == .array([]))
        // An error reply throws from `send`, and is a value in a pipeline.
        await #expect(throws: RedisError.server("WRONGTYPE Operation against a key holding the wrong kind of value")) {
            try await redis.send("GET", k + ".list")
        }
        let replies = try await redis.pipeline([["NOSUCHCOMMAND"], ["DEL", k, k + ".list"]])
        guard case .error(let message) = replies[0] else {
            Issue.record("expected an error reply, got \(replies[0])")
            return
        }
        #expect(message.hasPrefix("ERR unknown command"))
        #expect(replies[1] == .integer(2))
    }

    @Test func nestedStreamReplies() async throws {
        let redis = try client()
        defer { redis.close() }
        let stream = key("stream")
        let id = try #require(try await redis.send("XADD", stream, "*", "message", #"{"task_id":"1"}"#).string)
        let entries = try await redis.send("XRANGE", stream, "-", "+")
        #expect(
            entries == .array([.array([.bulk(Array(id.utf8)), .array([.bulk(Array("message".utf8)), .bulk(Array(#"{"task_id":"1"}"#.utf8))])])])
        )
        _ = try await redis.send("DEL", stream)
    }

    @Test func pipelinedRepliesComeBackInOrder() async throws {
        let redis = try client(timeout: .seconds(10))
        defer { redis.close() }
        let counter = key("counter")
        let replies = try await redis.pipeline(Array(repeating: ["INCR", counter], count: 1000))
        #expect(replies == (1...1000).map { .integer($0) })
        // Many callers at once share the pool's connections; each gets its own replies.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let own = "\(counter).\(i)"
                    let replies = try await redis.pipeline([["SET", own, String(i)], ["GET", own], ["DEL", own]])
                    #expect(replies == [.status("OK"), .bulk(Array(String(i).utf8)), .integer(1)])
                }
            }
            try await group.waitForAll()
        }
        _ = try await redis.send("DEL", counter)
    }

    @Test func largeValuesAndLongArrays() async throws {
        let redis = try client(timeout: .seconds(10))
        defer { redis.close() }
        let big = key("big")
        let value = String(repeating: "0123456789abcdef", count: 4 * 65536)
        _ = try await redis.send("SET", big, value)
        #expect(try await redis.send("GET", big).string == value)
        let list = key("long")
        for chunk in stride(from: 0, to: 20000, by: 1000) {
            _ = try await redis.send(["RPUSH", list] + (chunk..<chunk + 1000).map(String.init))
        }
        let items = try #require(try await redis.send("LRANGE", list, "0", "-1").array)
        #expect(items.count == 20000)
        #expect(items.last?.string == "19999")
        _ = try await redis.send("DEL", big, list)
    }

    /// A call that gets no answer in time fails with a timeout (long before Redis would answer it);
    /// the connection it was on is closed, and the next calls get a fresh one.
    @Test func aCallWithoutAnAnswerTimesOutAndTheNextOneIsServed() async throws {
        let redis = try client(timeout: .seconds(5))
        defer { redis.close() }
        let started = ContinuousClock.now
        await #expect(throws: RedisError.timeout) { try await redis.send("BLPOP", key("empty"), "120") }
        #expect(ContinuousClock.now - started < .seconds(100), "the client's deadline ended the call, not Redis")
        for _ in 0..<4 { #expect(try await redis.send("PING") == .status("PONG")) }
    }

    /// AUTH and SELECT come from the URL; a server that goes away fails calls at once, and the
    /// client reconnects by itself once the server is back.
    @Test func authenticatesSelectsAndReconnectsAfterARestart() async throws {
        let server = try PrivateRedis(password: "s3cret:pass")
        defer { server.stop() }
        try await server.start()
        let redis = try client("redis://:s3cret%3Apass@127.0.0.1:\(server.port)/3", timeout: .seconds(1))
        defer { redis.close() }
        let k = key("db3")
        _ = try await redis.send("SET", k, "three")
        let other = try client("redis://:s3cret%3Apass@127.0.0.1:\(server.port)/0")
        defer { other.close() }
        #expect(try await other.send("GET", k) == .null, "SELECT 3 was applied")
        let wrong = try client("redis://:wrong@127.0.0.1:\(server.port)")
        defer { wrong.close() }
        let refused = await #expect(throws: RedisError.self) { try await wrong.send("PING") }
        #expect(refused.map { "\($0)" }?.contains("WRONGPASS") == true)

        server.stop()
        // Each call fails: on a dead connection, then on a refused reconnect, then refused by the
        // back-off without trying (the pool has two connections).
        var errors: [RedisError] = []
        for _ in 0..<4 {
            do {
                _ = try await redis.send("PING")
                Issue.record("PING answered while Redis was down")
            } catch let error as RedisError {
                errors.append(error)
            }
        }
        #expect(errors.count == 4)
        guard case .unavailable? = errors.last else {
            Issue.record("expected unavailable while Redis is down, got \(errors)")
            return
        }

        try await server.start()
        let back = ContinuousClock.now
        var answered = false
        while !answered, ContinuousClock.now - back < .seconds(15) {
            answered = (try? await redis.send("PING")) == .status("PONG")
            if !answered { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(answered, "the client reconnected by itself")
        _ = try await redis.send("SET", k, "again")
        #expect(try await redis.send("GET", k).string == "again")
        #expect(try await other.send("GET", k) == .null, "SELECT 3 was applied again on the new connection")
    }

    @Test func urlsAreParsedAndBadOnesRefused() throws {
        let plain = try RedisURL("redis://127.0.0.1")
        #expect(try plain == RedisURL.make(host: "127.0.0.1", port: 6379))
        let full = try RedisURL("redis://user:p%40ss@cache.internal:6380/2")
        #expect(try full == RedisURL.make(host: "cache.internal", port: 6380, username: "user", password: "p@ss", database: 2))
        #expect(try RedisURL("redis://:pw@h:1/").password == "pw")
        #expect(try RedisURL("redis://:pw@h:1/").username == nil)
        for bad in ["http://h", "redis://", "redis://h:0", "redis://h:99999", "redis://h:port", "redis://h/db", "redis://:%zz@h", "redis://h/-1"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try RedisURL(bad) }
        }
    }
}

extension RedisURL {
    static func make(host: String, port: Int, username: String? = nil, password: String? = nil, database: Int = 0) throws -> RedisURL {
        var url = try RedisURL("redis://\(host):\(port)")
        url.username = username
        url.password = password
        url.database = database
        return url
    }
}
