import Domain
import Foundation
import Testing

@Suite struct UUIDParseTests {
    @Test func agreesWithFoundationOnCanonicalText() {
        for _ in 0..<500 {
            let id = UUID()
            #expect(UUID(canonical: id.uuidString) == id)
            #expect(UUID(canonical: id.uuidString.lowercased()) == id)
        }
    }

    @Test(arguments: [
        "", "not-a-uuid", "00000000-0000-0000-0000-00000000000", "00000000-0000-0000-0000-0000000000000",
        "00000000x0000-0000-0000-000000000000", "0000000g-0000-0000-0000-000000000000", "{00000000-0000-0000-0000-000000000000}",
        "000000000000-0000-0000-0000-00000000", "00000000-0000-0000-0000-00000000000é",
    ])
    func refusesAnythingElse(_ text: String) {
        #expect(UUID(canonical: text) == nil)
        #expect(UUID(uuidString: text) == nil)
    }
}
