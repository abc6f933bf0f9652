import Foundation
import Infra
import JWTKit
import NIOPosix
import Synchronization

/// The identity provider's public keys from `AMS_JWT_JWKS_FILE` and `AMS_JWT_JWKS_URL`, as last
/// read by `JWKSRefresher`. Each successful read replaces its source's set whole, so a key the
/// provider dropped stops verifying at the next refresh, and so do the cached verifications made
/// with it (`isCurrent`). A `kid` that no key has asks the refresher for a read at once, within
/// `FetchThrottle`'s limit, and waits for it: a key rotated in works on its first token.
final class IdentityProviderKeys: Sendable {
    enum Source: String, Sendable { case file, url }

    /// The key that verified a token: its cached verification counts only while this key is current.
    struct Tag: Sendable, Hashable {
        let kid: String
        let serial: Int
    }

    /// A key found by `kid`, with the one algorithm it verifies.
    struct Found: Sendable {
        let algorithm: String
        let tag: Tag
        let collection: JWTKeyCollection
    }

    private struct Waiter {
        let read: Int
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var sets: [Source: JWKSKeySet] = [:]
        var nextSerial = 1
        var throttle: FetchThrottle
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        /// The refresher ended: no read will come.
        var stopped = false
        /// A read was asked for while the refresher was not waiting for one.
        var wakePending = false
        /// The refresher, waiting for its next read.
        var sleeper: CheckedContinuation<Void, Never>?

        mutating func wake() {
            if let sleeper {
                sleeper.resume()
                self.sleeper = nil
            } else {
                wakePending = true
            }
        }
    }

    let paths: ClaimPaths
    let file: String?
    let url: String?
    private let state: Mutex<State>

    init(paths: ClaimPaths, file: String?, url: String?, throttle: FetchThrottle = FetchThrottle()) {
        self.paths = paths
        self.file = file
        self.url = url
        state = Mutex(State(throttle: throttle))
    }

    /// The keys `config` names, `nil` when it names none. The file is read now, so its keys verify
    /// from the first request; one that cannot be read as a JWKS refuses the start. The URL is left
    /// to the refresher: the service starts whether or not the provider answers.
    static func make(_ config: AppConfiguration, throttle: FetchThrottle = FetchThrottle()) async throws -> IdentityProviderKeys? {
        guard config.jwtJWKSFile != nil || config.jwtJWKSURL != nil else { return nil }
        let keys = IdentityProviderKeys(paths: config.jwtClaims, file: config.jwtJWKSFile, url: config.jwtJWKSURL, throttle: throttle)
        if let file = config.jwtJWKSFile {
            do {
                keys.install(try await JWKSKeySet.load(readFile(file), paths: keys.paths), from: .file)
            } catch {
                throw ConfigurationError("AMS_JWT_JWKS_FILE: cannot read '\(file)' as a JWKS: \(error)")
            }
        }
        return keys
    }

    /// The file's bytes, read on NIO's thread pool rather than the cooperative one.
    static func readFile(_ path: String) async throws -> Data {
        try await NIOThreadPool.singleton.runIfActive { try Data(contentsOf: URL(fileURLWithPath: path)) }
    }

    /// The key with `kid`; the file's when both sources have one.
    func key(_ kid: String) -> Found? {
        state.withLock { s -> Found? in
            for source in [Source.file, .url] {
                if let set = s.sets[source], let key = set.keys[kid] {
                    return Found(algorithm: key.algorithm, tag: Tag(kid: kid, serial: key.serial), collection: set.collection)
                }
            }
            return nil
        }
    }

    /// Whether the key `tag` names is still published.
    func isCurrent(_ tag: Tag) -> Bool {
        state.withLock { s in s.sets.values.contains { $0.keys[tag.kid]?.serial == tag.serial } }
    }

    /// Reads finished so far, successful or not.
    var reads: Int { state.withLock { $0.throttle.completed } }

    /// The kids known now, sorted.
    var kids: [String] {
        state.withLock { s in Set(s.sets.values.flatMap(\.keys.keys)).sorted() }
    }

    /// Replaces `source`'s keys with `set`. A key published before with the same material keeps its
    /// serial (its cached verifications stay good). Answers whether anything changed.
    @discardableResult
    func install(_ set: JWKSKeySet, from source: Source) -> Bool {
        state.withLock { s -> Bool in
            var set = set
            let old = s.sets[source]?.keys ?? [:]
            var changed = old.count != set.keys.count
            for (kid, key) in set.keys {
                if let previous = old[kid], previous.fingerprint == key.fingerprint {
                    set.keys[kid]?.serial = previous.serial
                } else {
                    set.keys[kid]?.serial = s.nextSerial
                    s.nextSerial += 1
                    changed = true
                }
            }
            s.sets[source] = set
            return changed
        }
    }

    /// For a `kid` that no key has: waits for the read the throttle allows and answers `true` (look
    /// again), or `false` at once when it allows none or the refresher has ended.
    func readForUnknownKey() async -> Bool {
        let decision = state.withLock { s -> FetchThrottle.Decision in
            guard !s.stopped else { return .refuse }
            let decision = s.throttle.unknownKey(at: .now)
            if case .fetch = decision { s.wake() }
            return decision
        }
        switch decision {
        case .refuse:
            return false
        case .fetch(let read), .wait(let read):
            await waitFor(read)
            return true
        }
    }

    private func waitFor(_ read: Int) async {
        let id = state.withLock { s -> Int in
            defer { s.nextWaiter += 1 }
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { s in
                    if s.stopped || s.throttle.completed >= read || Task.isCancelled {
                        continuation.resume()
                    } else {
                        s.waiters[id] = Waiter(read: read, continuation: continuation)
                    }
                }
            }
        } onCancel: {
            state.withLock { s in s.waiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    // MARK: the refresher's side

    /// A read starts: it serves every ask made so far.
    func beginRead() {
        state.withLock { s in
            s.throttle.begin()
            s.wakePending = false
        }
    }

    /// The read ended (its keys installed, or not): the tokens waiting for it look again.
    func finishRead() {
        let done = state.withLock { s -> [Waiter] in
            s.throttle.finish()
            let done = s.waiters.filter { $0.value.read <= s.throttle.completed }
            for id in done.keys { s.waiters.removeValue(forKey: id) }
            return Array(done.values)
        }
        for waiter in done { waiter.continuation.resume() }
    }

    /// Returns when a read is asked for (at once if one was asked for meanwhile), or on cancellation.
    func nextAsk() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { s in
                    if s.wakePending {
                        s.wakePending = false
                        continuation.resume()
                    } else if Task.isCancelled {
                        continuation.resume()
                    } else {
                        s.sleeper = continuation
                    }
                }
            }
        } onCancel: {
            state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.sleeper = nil }
                return s.sleeper
            }?.resume()
        }
    }

    /// The refresher ended: every waiting token looks again now, and later ones do not wait.
    func stop() {
        let waiting = state.withLock { s -> [Waiter] in
            s.stopped = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiting { waiter.continuation.resume() }
    }
}
