import Testing

@testable import App

@Suite struct RequestIDGeneratorTests {
    @Test func idsAre32LowercaseHexDigitsAndDistinct() {
        let generator = RequestIDGenerator()
        let ids = (0..<1000).map { _ in generator.next() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) })
        }
        // Same process, same prefix: ids of one replica can be told apart from another's.
        #expect(Set(ids.map { $0.prefix(16) }).count == 1)
    }
}
