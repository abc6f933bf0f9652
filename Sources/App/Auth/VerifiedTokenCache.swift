import Foundation
import Synchronization

/// Tokens that passed every check of `TokenVerifier`, keyed by the whole token string, each kept
/// until its `exp` plus the leeway. A hit past that time is evicted and answered as expired. A token
/// verified with an identity provider's key also names that key: once a refresh dropped the key,
/// a hit is evicted and answered as a miss, so the verification does not outlive the key.
///
/// Bounded by `capacity`. When an insert finds it full, expired entries are swept; if more than
/// 90% of `capacity` is still in use, arbitrary entries (dictionary order, which the per-process
/// hash seed makes effectively random) are dropped down to 90%. Both steps cost O(capacity), but
/// run at most once per `capacity / 10` inserts.
///
/// A `Mutex`, not an actor: lookups are on every request's synchronous path.
final class VerifiedTokenCache: Sendable {
    enum Lookup: Sendable {
        case hit(AccessClaims)
        case expired
        case miss
    }

    private struct Entry {
        let claims: AccessClaims
        /// Seconds since 1970 from which the token is refused.
        let until: Double
        /// The identity provider's key that verified it; `nil` for the shared secrets.
        let key: IdentityProviderKeys.Tag?
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var hits = 0
        var misses = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// The entry for `token`; `keyIsCurrent` says whether an identity provider's key still verifies.
    func lookup(_ token: String, now: Date, keyIsCurrent: (IdentityProviderKeys.Tag) -> Bool) -> Lookup {
        let now = now.timeIntervalSince1970
        return state.withLock { state in
            guard let entry = state.entries[token] else {
                state.misses += 1
                return .miss
            }
            if let key = entry.key, !keyIsCurrent(key) {
                state.entries.removeValue(forKey: token)
                state.misses += 1
                return .miss
            }
            guard now < entry.until else {
                state.entries.removeValue(forKey: token)
                return .expired
            }
            state.hits += 1
            return .hit(entry.claims)
        }
    }

    /// Caches `claims` for `token` until `until`; only call this with fully verified claims, and
    /// with the identity provider's `key` that verified them, if one did.
    func store(_ token: String, claims: AccessClaims, key: IdentityProviderKeys.Tag? = nil, until: Date, now: Date) {
        let now = now.timeIntervalSince1970
        let until = until.timeIntervalSince1970
        guard capacity > 0, now < until else { return }
        let capacity = capacity
        state.withLock { state in
            if state.entries[token] == nil, state.entries.count >= capacity {
                state.entries = state.entries.filter { now < $0.value.until }
                let target = min(capacity * 9 / 10, capacity - 1)
                if state.entries.count > target {
                    for dropped in Array(state.entries.keys.prefix(state.entries.count - target)) {
                        state.entries.removeValue(forKey: dropped)
                    }
                }
            }
            state.entries[token] = Entry(claims: claims, until: until, key: key)
        }
    }

    /// Entries held now.
    var count: Int { state.withLock { $0.entries.count } }
    /// Lookups answered from the cache.
    var hits: Int { state.withLock { $0.hits } }
    /// Lookups that found nothing, each followed by a full verification.
    var misses: Int { state.withLock { $0.misses } }
}
