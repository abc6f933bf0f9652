import Domain
import Foundation
import Testing

@testable import App

/// The leader's kept events: only once their commit is known, consecutive, bounded, and `nil`
/// (read Postgres) for what is not kept.
struct EventFeedTests {
    private func events(_ range: ClosedRange<Int64>) -> [ChangeEvent] {
        range.map {
            ChangeEvent(
                sequence: $0,
                eventID: UUID(),
                tenantID: "t",
                event: "e",
                agentID: nil,
                taskID: nil,
                globalTaskID: nil,
                data: "{}",
                timestamp: Date()
            )
        }
    }

    @Test func keptEventsAreHandedOutInOrderFromAnyKeptPosition() {
        let feed = EventFeed(keep: 8)
        #expect(feed.recent(after: 0, limit: 10) == nil, "nothing kept yet")
        feed.stage(events(1...3))
        feed.publish(3)
        feed.stage(events(4...5))
        feed.publish(5)
        #expect(feed.newest == 5)
        #expect(feed.recent(after: 0, limit: 10)?.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(feed.recent(after: 2, limit: 2)?.map(\.sequence) == [3, 4])
        #expect(feed.recent(after: 5, limit: 10)?.isEmpty == true, "nothing newer")
        #expect(feed.recent(after: 6, limit: 10) == nil, "past what is known")
    }

    /// Sequenced rows are kept only once the commit's notice came, before or after them; until
    /// then a follower reads Postgres, where an uncommitted number is never seen.
    @Test func rowsAreKeptOnlyOnceTheirCommitIsKnown() async {
        let feed = EventFeed(keep: 8)
        feed.stage(events(1...2))
        feed.publish(2)
        var wakes = feed.follow().makeAsyncIterator()
        #expect(await wakes.next() == 2)
        // The rows first: not kept, and no follower woken, until the notice.
        feed.stage(events(3...4))
        #expect(feed.newest == 2)
        #expect(feed.recent(after: 2, limit: 10)?.isEmpty == true, "3 and 4 are not known committed")
        feed.publish(4)
        #expect(await wakes.next() == 4)
        #expect(feed.recent(after: 2, limit: 10)?.map(\.sequence) == [3, 4])
        // The notice first: followers read Postgres, and the rows are kept when they come.
        feed.publish(6)
        #expect(await wakes.next() == 6)
        #expect(feed.recent(after: 4, limit: 10) == nil)
        feed.stage(events(5...6))
        #expect(feed.recent(after: 4, limit: 10)?.map(\.sequence) == [5, 6])
    }

    @Test func theBoundDropsTheOldestAndAGapStartsOver() {
        let feed = EventFeed(keep: 4)
        for n in stride(from: Int64(1), through: 37, by: 3) {
            feed.stage(events(n...(n + 2)))
            feed.publish(n + 2)
        }
        #expect(feed.recent(after: 35, limit: 10)?.map(\.sequence) == [36, 37, 38, 39])
        #expect(feed.recent(after: 34, limit: 10) == nil, "older than what is kept")
        // Another replica sequenced 40…49 meanwhile: what was kept no longer leads on.
        feed.stage(events(50...52))
        feed.publish(52)
        #expect(feed.recent(after: 38, limit: 10) == nil)
        #expect(feed.recent(after: 49, limit: 10)?.map(\.sequence) == [50, 51, 52])
        feed.stage(events(53...53))
        feed.forgetDelivered()
        feed.publish(53)
        #expect(feed.recent(after: 52, limit: 10) == nil, "a replica that stops leading keeps nothing")
    }
}
