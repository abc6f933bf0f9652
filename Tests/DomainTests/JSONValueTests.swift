import Domain
import Foundation
import Testing

@Suite struct JSONValueTests {
    func json(_ text: String) throws -> JSONValue { try #require(JSONValue.parse(Array(text.utf8))) }

    @Test func mergePatchFollowsRFC7396() throws {
        let target = try json(#"{"a":"b","c":{"d":"e","f":"g"},"keep":[1,2]}"#)
        let patch = try json(#"{"a":"z","c":{"f":null},"new":true}"#)
        #expect(target.merging(patch: patch) == (try json(#"{"a":"z","c":{"d":"e"},"keep":[1,2],"new":true}"#)))
        #expect(target.merging(patch: try json(#"{"keep":[3]}"#))["keep"] == .array([.int(3)]))
        #expect(target.merging(patch: try json("[1]")) == .array([.int(1)]))
    }

    @Test func pointerResolvesObjectsArraysAndEscapes() throws {
        let doc = try json(#"{"llm_config":{"temperature":0.5},"tools":[{"id":"x"}],"a/b":{"m~n":1}}"#)
        #expect(doc.resolve(pointer: "/llm_config/temperature") == .double(0.5))
        #expect(doc.resolve(pointer: "/tools/0/id") == .string("x"))
        #expect(doc.resolve(pointer: "/a~1b/m~0n") == .int(1))
        #expect(doc.resolve(pointer: "/tools/1") == nil)
        #expect(doc.resolve(pointer: "") == doc)
        #expect(doc.resolve(pointer: "nope") == nil)
    }

    @Test func writerEscapesAndSortsKeys() throws {
        let value = JSONValue.object(["b": .string("q\"\\\n\u{01}"), "a": .array([.null, .bool(true), .double(1.5), .int(-3)])])
        let text = String(decoding: value.encoded, as: UTF8.self)
        #expect(text == #"{"a":[null,true,1.5,-3],"b":"q\"\\\n\u0001"}"#)
        #expect(JSONValue.parse(value.encoded) == value)
    }

    /// Plain runs are copied between escapes: escapes first, last, adjacent, and multi-byte text around them.
    @Test func writerCopiesRunsBetweenEscapes() throws {
        for (input, expected) in [
            ("", #""""#), ("plain", #""plain""#), ("\"", #""\"""#), ("\t\r", #""\t\r""#),
            ("é\"ü\u{1F}ß", #""é\"ü\u001fß""#), ("a\\", #""a\\""#),
        ] {
            let bytes = JSONValue.string(input).encoded
            #expect(String(decoding: bytes, as: UTF8.self) == expected)
            #expect(JSONValue.parse(bytes) == .string(input))
        }
    }

    @Test func pointerTokensEscapeBothWays() {
        #expect(JSONPointer.escape("plain") == "plain")
        #expect(JSONPointer.escape("a/b~c") == "a~1b~0c")
        #expect(JSONPointer.unescape("a~1b~0c") == "a/b~c")
        #expect(JSONPointer.unescape("~01") == "~1", "~0 then 1, not ~ then ~1")
        #expect(JSONPointer.unescape(JSONPointer.escape("~1/~0")) == "~1/~0")
        // As the two replacements in turn (RFC 6901's order) would do, malformed text included.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let text = String((0..<Int.random(in: 0...8, using: &generator)).map { _ in "~01/a".randomElement(using: &generator)! })
            let expected = text.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            #expect(JSONPointer.unescape(text) == expected, "\(text)")
            #expect(JSONPointer.unescape(JSONPointer.escape(text)) == text, "\(text)")
        }
    }

    @Test func notJSONIsNil() {
        #expect(JSONValue.parse(Array("{nope".utf8)) == nil)
    }
}
