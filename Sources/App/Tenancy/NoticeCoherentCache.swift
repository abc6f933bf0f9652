/// A cache kept coherent by change notices: what a notice says (the newest version of a key, or
/// that it changed in an unknown way) is remembered while any fill is in flight, so a fill that
/// started before the notice and finishes after it cannot put an older state back. A load that
/// starts after a notice reads what the notice announced, so with no fill in flight nothing needs
/// remembering. Owned by an actor; not itself shared.
struct NoticeCoherentCache<Key: Hashable, Value> {
    /// Taken before the load whose result will fill the cache.
    struct Ticket {
        fileprivate let sequence: UInt64
    }

    private struct Notice {
        /// `nil`: changed in a way that carries no version (deletes use `Int.max`).
        var version: Int?
        var sequence: UInt64
    }

    let capacity: Int
    /// Notices remembered at most; beyond that they are forgotten together and fills in flight refused.
    let noticeCapacity: Int
    private(set) var isEnabled: Bool
    private var entries: [Key: (version: Int, value: Value)] = [:]
    private var notices: [Key: Notice] = [:]
    private var sequence: UInt64 = 0
    /// Tickets taken and not yet settled.
    private var outstanding = 0
    /// Fills whose ticket is older than this are refused: what happened since was forgotten.
    private var floor: UInt64 = 0

    init(capacity: Int, noticeCapacity: Int = 1024, enabled: Bool) {
        self.capacity = capacity
        self.noticeCapacity = noticeCapacity
        self.isEnabled = enabled
    }

    var count: Int { entries.count }

    subscript(key: Key) -> Value? { entries[key]?.value }

    func entry(_ key: Key) -> (version: Int, value: Value)? { entries[key] }

    /// Take one before the load whose result will fill the cache, and settle it (`defer`) after.
    mutating func ticket() -> Ticket {
        outstanding += 1
        return Ticket(sequence: sequence)
    }

    mutating func settle(_ ticket: Ticket) {
        outstanding -= 1
        if outstanding == 0 { notices.removeAll(keepingCapacity: false) }
    }

    /// Caches `value` as `version` unless caching is off, a notice since `ticket` superseded it, or
    /// the cache already holds something as new. Returns whether it was stored.
    @discardableResult
    mutating func fill(_ key: Key, version: Int, _ value: Value, since ticket: Ticket) -> Bool {
        guard isEnabled, ticket.sequence >= floor else { return false }
        if let notice = notices[key] {
            if let newest = notice.version {
                if newest > version { return false }
            } else if notice.sequence > ticket.sequence {
                return false
            }
        }
        if let existing = entries[key], existing.version >= version { return false }
        if entries.count >= capacity, entries[key] == nil, let victim = entries.keys.first {
            entries[victim] = nil
        }
        entries[key] = (version, value)
        return true
    }

    /// A change to `key`: `version` is the newest one (`Int.max` for a delete), `nil` when unknown.
    mutating func notice(_ key: Key, version: Int?) {
        sequence += 1
        if let cached = entries[key], version.map({ cached.version < $0 }) ?? true {
            entries[key] = nil
        }
        guard outstanding > 0 else { return }
        let newest: Int? =
            switch (notices[key]?.version, version) {
            case let (old?, new?): max(old, new)
            default: nil
            }
        notices[key] = Notice(version: notices[key] == nil ? version : newest, sequence: sequence)
        if notices.count > noticeCapacity {
            notices.removeAll(keepingCapacity: true)
            floor = sequence
        }
    }

    /// Drops everything: entries, notices and fills in flight; caching goes on only if `enabled`.
    mutating func reset(enabled: Bool) {
        sequence += 1
        floor = sequence
        entries.removeAll()
        notices.removeAll()
        isEnabled = enabled
    }
}
