import Foundation
import TestSupport
import Testing

@testable import FunctionRuntime

@Suite struct EventJSONTests {
    @Test func readsValues() throws {
        let value = try EventJSON.parse(
            Array(#" {"a":"x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00","b":[1,-0.5e+3,true,false,null],"c":{}} "#.utf8)
        )
        #expect(value["a"] == .string("x\"\\/\u{08}\u{0C}\n\r\té😀"))
        #expect(value["b"] == .array([.number("1"), .number("-0.5e+3"), .bool(true), .bool(false), .null]))
        #expect(value["c"] == .object([]))
        #expect(value["missing"] == nil)
        #expect(try EventJSON.parse(Array(#"{"k":1,"k":2}"#.utf8))["k"] == .number("1"))
    }

    @Test(arguments: [
        "", "{", "}", #"{"a":1,}"#, "[1,]", #"{"a" 1}"#, #"{a:1}"#, "01", "1.", "-", "1e", ".5", "+1", "tru", "nul",
        #""\x""#, #""\u12G4""#, #""\ud800""#, #""\udc00x""#, "\"a\u{01}b\"", #""abc"#, #"{"a":1} x"#, "[1 2]",
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func refusesWhatRFC8259Refuses(text: String) {
        #expect(throws: EventJSON.SyntaxError.self) { try EventJSON.parse(Array(text.utf8)) }
    }

    /// Never more lenient than Foundation's parser (which itself accepts trailing commas, so the other
    /// direction is checked by the RFC cases above).
    @Test func neverAcceptsWhatFoundationRefuses() throws {
        var generator = SeededGenerator(seed: 0xE7E7)
        let valid = Array(
            #"{"version":"2.0","rawPath":"/a","headers":{"a":"b","c":"d\u00e9"},"cookies":["x=1"],"n":[1.5e3,-2,0],"t":true,"z":null}"#
                .utf8
        )
        for _ in 0..<2000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[index] =
                    [
                        UInt8(ascii: "\""), UInt8(ascii: ","), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["),
                        UInt8(ascii: "]"), UInt8(ascii: ":"), UInt8(ascii: "1"), UInt8(ascii: "a"), UInt8(ascii: "\\"),
                        0x20, 0x0A,
                    ][
                        Int.random(in: 0..<12, using: &generator)
                    ]
            }
            let ours = (try? EventJSON.parse(bytes)) != nil
            let foundation = (try? JSONSerialization.jsonObject(with: Data(bytes))) != nil
            if ours { #expect(foundation, "\(String(decoding: bytes, as: UTF8.self))") }
        }
    }
}
