import Domain
import Foundation
import Testing

/// Cached agents are kept packed: whatever went in must come back byte for byte.
@Suite struct PackedJSONTests {
    static func roundTrip(_ bytes: [UInt8]) -> (packed: [UInt8], back: [UInt8]) {
        var packed: [UInt8] = []
        PackedJSON.pack(bytes, into: &packed)
        let back = packed.withUnsafeBufferPointer { p in
            #expect(PackedJSON.expandedCount(p) == bytes.count)
            return PackedJSON.expanded(p)
        }
        return (packed, back)
    }

    @Test func anAgentComesBackAndTakesLessThanTwoThirdsOfItsBytes() throws {
        for template in [nil, "support-bot"] {
            let json = try AgentEncodedTests.agent(template: template).encodedJSON
            let (packed, back) = Self.roundTrip(json)
            #expect(back == json)
            #expect(packed.count * 3 < json.count * 2, "\(packed.count) of \(json.count)")
        }
    }

    /// Token-like text in values, the marks themselves, bytes that are not UTF-8, cut-off tokens.
    @Test(arguments: [
        #"{"name":"\"name\":","tags":["\"draft\"","draft"],"x":"draft"}"#,
        #""name":"#, #""name""#, #""nam"#, #"""#, #""""#, "", "\"status\":\"active\"",
        "é \u{10FFFF} \"type\":",
    ])
    func textComesBackAsItWent(text: String) {
        let bytes = Array(text.utf8)
        #expect(Self.roundTrip(bytes).back == bytes)
    }

    @Test func anyBytesComeBack() {
        var random = SplitMix(state: 23)
        let alphabet = Array("\"name\":{}[],\\ ab".utf8) + [0xFE, 0xFF, 0xF5, 0x80, 0xC3]
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0..<40, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            #expect(Self.roundTrip(bytes).back == bytes, "\(bytes)")
        }
    }
}
