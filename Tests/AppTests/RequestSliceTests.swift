import Domain
import Foundation
import Infra
import Logging
import RedisTestSupport
import Synchronization
import Testing

@testable import App

/// Requests per minute counted in slices taken from Redis (`RequestSlices`): a round trip per
/// slice, never more than the limit across replicas.
@Suite struct RequestSliceTests {
    /// The middle of a minute, so that a test's window does not end under it.
    static let minute = Date(timeIntervalSince1970: Double((Int(Date.now.timeIntervalSince1970) / 60) * 60 + 30))

    /// A limiter (one replica) with the enterprise tier at `limit` requests a minute. It waits
    /// seconds for Redis (the service waits 250 ms): on a loaded machine a refill that timed out
    /// would let requests through unchecked, or lose its slice, and these tests count exactly.
    static func limiter(
        _ redis: RedisClient,
        limit: Int,
        failClosed: Bool = false,
        metrics: AppMetrics = AppMetrics(),
        wait: Duration = .seconds(5)
    ) throws -> RateLimiter {
        var policy = try TierPolicyFile.load(path: try TestSupport.configuration().tiersFile)
        policy.limits[.enterprise]?.requestsPerMinute = limit
        return RateLimiter(redis: redis, policy: policy, failClosed: failClosed, metrics: metrics, logger: Logger(label: "test"), wait: wait)
    }

    static func redis(_ url: String? = nil) throws -> RedisClient {
        RedisClient(configuration: .init(url: try RedisURL(url ?? TestSupport.configuration().redisURL)), logger: Logger(label: "test"))
    }

    /// What the replicas have taken of the tenant's window in Redis.
    static func taken(_ redis: RedisClient, _ tenant: TenantID, at now: Date = minute) async throws -> Int {
        try await redis.send("GET", "ams:ratelimit:\(tenant):request:\(Int(now.timeIntervalSince1970) / 60)").integer ?? 0
    }

    /// Whether the request was admitted (over the limit: `false`, after checking it is the 429 of
    /// the request window).
    static func admitted(_ limiter: RateLimiter, _ tenant: TenantID, at now: Date = minute) async throws -> Bool {
        do {
            _ = try await limiter.check(tenant: tenant, tier: .enterprise, now: now)
            return true
        } catch let error as ServiceError where error.code == .rateLimited {
            #expect(error.details["limit_name"] == .string("requests_per_minute"))
            return false
        }
    }

    @Test func aSliceIsAHundredthOfTheLimitBetweenOneAndAThousand() {
        #expect(RequestSlices.size(of: 60) == 1)
        #expect(RequestSlices.size(of: 1000) == 10)
        #expect(RequestSlices.size(of: 10_000) == 100)
        #expect(RequestSlices.size(of: 10_000_000) == 1000)
    }

    /// 250 requests take three slices of 100 from Redis, not 250 counts; the remaining count is
    /// what is left of the limit.
    @Test func aSliceIsTakenOncePerItsSizeInRequests() async throws {
        let redis = try Self.redis()
        defer { redis.close() }
        let limiter = try Self.limiter(redis, limit: 10_000)
        let tenant = TestSupport.tenant()
        var last: RateLimiter.Verdict?
        for _ in 0..<250 { last = try await limiter.check(tenant: tenant, tier: .enterprise, now: Self.minute).verdict }
        #expect(try await Self.taken(redis, tenant) == 300)
        #expect(last?.limit == 10_000 && last?.remaining == 10_000 - 250)
        #expect(last?.reset == Int(Self.minute.timeIntervalSince1970) / 60 * 60 + 60)
    }

    /// Requests that find the slice spent together wait for one refill instead of each taking a slice.
    @Test func oneRefillAtATime() async throws {
        let redis = try Self.redis()
        defer { redis.close() }
        let limiter = try Self.limiter(redis, limit: 10_000)
        let tenant = TestSupport.tenant()
        let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<64 { group.addTask { try await Self.admitted(limiter, tenant) } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 64)
        #expect(try await Self.taken(redis, tenant) == 100, "one slice for all 64")
    }

    /// Two replicas hammering one tenant together admit no more than the limit (at most a slice
    /// each more is allowed); each asked more than the limit, so each was refused and holds
    /// nothing unused.
    @Test func twoReplicasTogetherStayWithinTheLimit() async throws {
        let redis = try Self.redis()
        defer { redis.close() }
        let replicas = [try Self.limiter(redis, limit: 1000), try Self.limiter(redis, limit: 1000)]
        let tenant = TestSupport.tenant()
        let admitted = try await withThrowingTaskGroup(of: Int.self) { group in
            for replica in replicas {
                for _ in 0..<16 {
                    group.addTask {
                        var n = 0
                        for _ in 0..<70 where try await Self.admitted(replica, tenant) { n += 1 }
                        return n
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(admitted <= 1000 + 2 * RequestSlices.size(of: 1000))
        #expect(admitted == 1000, "each replica spent what it took before it refused")
        #expect(try await Self.taken(redis, tenant) == 1000)
    }

    /// A spent window refuses without asking Redis again; the next minute starts anew, and the
    /// windows before it are forgotten.
    @Test func theWindowRollsOverAndOldWindowsAreForgotten() async throws {
        let redis = try Self.redis()
        defer { redis.close() }
        let limiter = try Self.limiter(redis, limit: 200)
        let tenant = TestSupport.tenant()
        for _ in 0..<200 { #expect(try await Self.admitted(limiter, tenant)) }
        #expect(try await Self.admitted(limiter, tenant) == false)
        do {
            _ = try await limiter.check(tenant: tenant, tier: .enterprise, now: Self.minute)
            Issue.record("the 202nd request of the window was admitted")
        } catch let error as ServiceError {
            let reset = Int(Self.minute.timeIntervalSince1970) / 60 * 60 + 60
            #expect(error.code == .rateLimited && error.details["limit"] == .int(200) && error.details["reset"] == .int(reset))
            #expect(error.details["retry_after"] == .int(30))
        }
        _ = try await Self.admitted(limiter, TestSupport.tenant())
        #expect(limiter.slices.tenantCount == 2)

        let next = Self.minute.addingTimeInterval(60)
        let verdict = try await limiter.check(tenant: tenant, tier: .enterprise, now: next).verdict
        #expect(verdict?.remaining == 199 && verdict?.reset == Int(next.timeIntervalSince1970) / 60 * 60 + 60)
        #expect(try await Self.taken(redis, tenant, at: next) == 2)
        #expect(limiter.slices.tenantCount == 1, "the other tenant's last window is forgotten")
    }

    /// Redis gone while a slice lasts: the slice is still counted here; once it is spent, requests
    /// pass unchecked (counted), or are refused when failing closed.
    @Test func redisAwayMidSlice() async throws {
        let server = try PrivateRedis()
        try await server.start()
        defer { server.stop() }
        let redis = try Self.redis("redis://127.0.0.1:\(server.port)")
        defer { redis.close() }
        let metrics = AppMetrics()
        let open = try Self.limiter(redis, limit: 10_000, metrics: metrics)
        let closed = try Self.limiter(redis, limit: 10_000, failClosed: true, metrics: metrics)
        let tenant = TestSupport.tenant()
        #expect(try await open.check(tenant: tenant, tier: .enterprise, now: Self.minute).verdict?.remaining == 9_999)
        #expect(try await closed.check(tenant: tenant, tier: .enterprise, now: Self.minute).verdict?.remaining == 9_899)
        server.stop()
        for n in 1..<100 {
            let verdict = try await open.check(tenant: tenant, tier: .enterprise, now: Self.minute).verdict
            #expect(verdict?.remaining == 9_999 - n, "counted in the slice")
        }
        #expect(!String(decoding: metrics.exposition(), as: UTF8.self).contains("ams_rate_limit_unchecked_total 1"))
        #expect(try await open.check(tenant: tenant, tier: .enterprise, now: Self.minute).verdict == nil, "spent: let through unchecked")
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("ams_rate_limit_unchecked_total 1"))
        for _ in 1..<100 { _ = try await closed.check(tenant: tenant, tier: .enterprise, now: Self.minute) }
        await #expect(throws: ServiceError.self) {
            do {
                _ = try await closed.check(tenant: tenant, tier: .enterprise, now: Self.minute)
            } catch let error as ServiceError {
                #expect(error.code == .queueUnavailable)
                throw error
            }
        }
    }
}
