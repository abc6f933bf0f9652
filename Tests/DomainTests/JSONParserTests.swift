import Domain
import Foundation
import Testing

@Suite struct JSONParserTests {
    func parse(_ text: String) -> JSONValue? { JSONValue.parse(Array(text.utf8)) }

    @Test func everyValueKind() throws {
        #expect(parse("null") == .null)
        #expect(parse("true") == .bool(true))
        #expect(parse("false") == .bool(false))
        #expect(parse("42") == .int(42))
        #expect(parse("-7") == .int(-7))
        #expect(parse("1.5") == .double(1.5))
        #expect(parse(#""hi""#) == .string("hi"))
        #expect(parse("[]") == .array([]))
        #expect(parse("{}") == .object([:]))
        #expect(parse(#"[1,"a",null,true,{"k":[]}]"#) == .array([.int(1), .string("a"), .null, .bool(true), .object(["k": .array([])])]))
        #expect(parse(#"{"a":{"b":{"c":[0.25]}}}"#) == .object(["a": .object(["b": .object(["c": .array([.double(0.25)])])])]))
    }

    @Test func whitespaceAroundAndBetweenTokens() {
        #expect(parse(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n ") == .object(["a": .array([.int(1), .int(2)])]))
        #expect(parse("  7  ") == .int(7))
    }

    @Test func everyAcceptedInputKind() throws {
        let text = #"{"a":[1,2.5]}"#
        let expected = JSONValue.object(["a": .array([.int(1), .double(2.5)])])
        #expect(JSONValue.parse(Array(text.utf8)) == expected)
        #expect(JSONValue.parse(Data(text.utf8)) == expected)
        #expect(JSONValue.parse(Array(text.utf8)[...]) == expected)
    }

    @Test func stringEscapes() {
        #expect(parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(parse(#""a\u0041\u00e9\u4e2d""#) == .string("aAé中"))
        // Postgres cannot store U+0000, so the service's parser refuses it.
        #expect(parse(#""\u0000""#) == nil)
        #expect(parse(#"{"a":"x\u0000y"}"#) == nil)
        #expect(parse(#""plain then \n escaped""#) == .string("plain then \n escaped"))
        #expect(parse(#""\uD83D\uDE00 smile""#) == .string("😀 smile"))
        #expect(parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test func rawUnicodeIsKept() {
        #expect(parse(#""héllo wörld 中文 😀""#) == .string("héllo wörld 中文 😀"))
        #expect(parse(#"{"clé":"valeur"}"#) == .object(["clé": .string("valeur")]))
    }

    @Test func numbers() throws {
        #expect(parse("0") == .int(0))
        #expect(parse("9223372036854775807") == .int(Int.max))
        #expect(parse("-9223372036854775808") == .int(Int.min))
        #expect(parse("9223372036854775808") == .double(9223372036854775808.0))
        #expect(parse("12345678901234567890123") == .double(1.2345678901234568e22))
        #expect(parse("1e3") == .double(1000))
        #expect(parse("1E+3") == .double(1000))
        #expect(parse("25e-2") == .double(0.25))
        #expect(parse("-1.25e1") == .double(-12.5))
        #expect(parse("0.1") == .double(0.1))
        #expect(parse("3.141592653589793238462643383279") == .double(3.141592653589793))
        #expect(parse("1.7976931348623157e308") == .double(.greatestFiniteMagnitude))
        #expect(parse("5e-324") == .double(.leastNonzeroMagnitude))
        #expect(parse("1e-400") == .double(0))
        #expect(parse("1.0") == .double(1))
    }

    @Test func negativeZero() throws {
        #expect(parse("-0") == .int(0))
        let value = try #require(parse("-0.0"))
        #expect(value == .double(0))
        #expect(value.numberValue?.sign == .minus)
        #expect(parse("-0e1")?.numberValue?.sign == .minus)
    }

    @Test func duplicateKeysLastWins() {
        #expect(parse(#"{"a":1,"a":2}"#) == .object(["a": .int(2)]))
    }

    @Test(arguments: [
        "", " ", "[1,]", #"{"a":1,}"#, "[,1]", "01", "-01", "00", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "1.5.2",
        "NaN", "Infinity", "1e400", "-1e400",
        #""abc"#, #""a"#, #"{"a":"b"#, "[1", "{", #"{"a"}"#, #"{"a" 1}"#, #"{1:2}"#, "[1 2]",
        "\"tab\there\"", "\"new\nline\"", "\"\u{1F}\"",
        #""\x""#, #""\u12""#, #""\u12G4""#, #""\'""#, #""\"#,
        #""\uD800""#, #""\uD800x""#, #""\uD800\u0041""#, #""\uDC00""#, #""\uDE00\uD83D""#,
        "tru", "nul", "falsey", "True", "[1] x", "{} {}", "1 2", "null,",
    ])
    func invalidInputIsNil(_ text: String) {
        #expect(parse(text) == nil, "accepted \(text.debugDescription)")
    }

    @Test func invalidUTF8IsNil() {
        #expect(JSONValue.parse([0x22, 0xC3, 0x22]) == nil)
        #expect(JSONValue.parse([0x22, 0xFF, 0x22]) == nil)
        #expect(JSONValue.parse([0x22, 0x5C, 0x6E, 0xED, 0xA0, 0x80, 0x22]) == nil)
    }

    @Test func nestingDepthIsLimited() {
        let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(parse(deepest) != nil)
        let tooDeep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(parse(tooDeep) == nil)
        let objects = String(repeating: #"{"a":"#, count: 600) + "1" + String(repeating: "}", count: 600)
        #expect(parse(objects) == nil)
    }

    @Test func roundTripsThroughTheWriter() throws {
        let document = JSONValue.object([
            "name": .string("Agent \"Ω\"\n\t\\ 😀"),
            "numbers": .array([.int(0), .int(-3), .int(Int.max), .double(1.5), .double(-2.25e-7), .double(1e300)]),
            "flags": .array([.bool(true), .bool(false), .null]),
            "nested": .object(["a/b": .object(["m~n": .array([.object([:]), .array([]), .string("\u{01}\u{1F}")])])]),
            "empty": .string(""),
        ])
        let parsed = try #require(JSONValue.parse(document.encoded))
        #expect(parsed == document)
        #expect(parsed.encoded == document.encoded)
    }

    @Test func agreesWithJSONDecoderOnAValidDocument() throws {
        let text = #"{"a":[1,-2,3.5,"x\u00e9",true,null,{"b":{}}],"d":"\ud83d\ude00"}"#
        let viaDecoder = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(parse(text) == viaDecoder)
    }
}
