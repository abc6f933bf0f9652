import Domain
import Testing

/// Error answers and validation issues share one catalog of AMS codes.
@Suite struct CodeCatalogTests {
    /// A code that was both an error answer's and an issue's (AMS-112 was the 426 and "secret
    /// detected") means two things to a client that switches on it.
    @Test func noCodeMeansTwoThings() {
        var meanings: [String: [CodeCatalog.Entry]] = [:]
        for entry in CodeCatalog.entries { meanings[entry.code, default: []].append(entry) }
        let twice = meanings.filter { $0.value.count > 1 }.keys.sorted()
        #expect(twice == [], "codes with more than one meaning")
    }
}
