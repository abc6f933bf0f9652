@testable import App
import Domain
import Foundation
import Testing

/// The leader's kept events: consecutive, bounded, and `nil` (read Postgres) for what is not kept.
struct EventFeedTests {
    private func events(_ range: ClosedRange<Int64>) -> [ChangeEvent] {
        range.map { ChangeEvent(sequence: $0, eventID: UUID(), tenantID: "t", event: "e", agentID: nil, taskID: nil, globalTaskID: nil, data: "{}", timestamp: Date()) }
    }

    @Test func keptEventsAreHandedOutInOrderFromAnyKeptPosition() {
        let feed = EventFeed(keep: 8)
        #expect(feed.recent(after: 0, limit: 10) == nil, "nothing kept yet")
        feed.publish(3, events: events(1...3))
        feed.publish(5, events: events(4...5))
        #expect(feed.newest == 5)
        #expect(feed.recent(after: 0, limit: 10)?.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(feed.recent(after: 2, limit: 2)?.map(\.sequence) == [3, 4])
        #expect(feed.recent(after: 5, limit: 10)?.isEmpty == true, "nothing newer")
        #expect(feed.recent(after: 6, limit: 10) == nil, "past what is known")
    }

    /// The leader's own notice of a sequence can come before the rows it sequenced: followers are
    /// woken again when the rows come, and until then read Postgres rather than stop short.
    @Test func rowsThatComeAfterTheirNoticeStillWakeTheFollowers() async {
        let feed = EventFeed(keep: 8)
        feed.publish(2, events: events(1...2))
        var wakes = feed.follow().makeAsyncIterator()
        #expect(await wakes.next() == 2)
        feed.publish(4)
        #expect(await wakes.next() == 4)
        #expect(feed.recent(after: 2, limit: 10) == nil, "3 and 4 are not kept yet")
        feed.publish(4, events: events(3...4))
        #expect(await wakes.next() == 4, "woken again by the rows")
        #expect(feed.recent(after: 2, limit: 10)?.map(\.sequence) == [3, 4])
    }

    @Test func theBoundDropsTheOldestAndAGapStartsOver() {
        let feed = EventFeed(keep: 4)
        for n in stride(from: Int64(1), through: 37, by: 3) { feed.publish(n + 2, events: events(n...(n + 2))) }
        #expect(feed.recent(after: 35, limit: 10)?.map(\.sequence) == [36, 37, 38, 39])
        #expect(feed.recent(after: 34, limit: 10) == nil, "older than what is kept")
        // Another replica sequenced 40…49 meanwhile: what was kept no longer leads on.
        feed.publish(52, events: events(50...52))
        #expect(feed.recent(after: 38, limit: 10) == nil)
        #expect(feed.recent(after: 49, limit: 10)?.map(\.sequence) == [50, 51, 52])
        feed.forgetDelivered()
        #expect(feed.recent(after: 49, limit: 10) == nil, "a replica that stops leading keeps nothing")
    }
}
