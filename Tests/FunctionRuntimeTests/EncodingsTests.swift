import Encodings
import Testing

@Suite struct EncodingsTests {
    @Test func hexEncodesEveryByteAsTwoDigits() {
        #expect(Hex.encode([0x00, 0x0F, 0xA5, 0xFF]) == "000fa5ff")
        #expect(Hex.encode([0x00, 0x0F, 0xA5, 0xFF], uppercase: true) == "000FA5FF")
        #expect(Hex.encode(fixedWidth: UInt32(0x0000_0A0B)) == "00000a0b")
        #expect(Hex.encode(fixedWidth: UInt64.max) == "ffffffffffffffff")
        let random = Hex.random(byteCount: 32)
        #expect(random.utf8.count == 64 && random.utf8.allSatisfy { Hex.value(of: $0) != nil })
        #expect(Hex.random(byteCount: 32) != random)
    }

    @Test func hexDigitValuesEitherCaseAndNothingElse() {
        #expect(Hex.value(of: UInt8(ascii: "0")) == 0)
        #expect(Hex.value(of: UInt8(ascii: "f")) == 15)
        #expect(Hex.value(of: UInt8(ascii: "F")) == 15)
        for byte in [UInt8(ascii: "g"), UInt8(ascii: "G"), UInt8(ascii: "/"), UInt8(ascii: ":"), 0x00, 0xFF] {
            #expect(Hex.value(of: byte) == nil)
        }
    }

    @Test func percentEncodingKeepsOnlyUnreservedCharacters() {
        #expect(PercentEncoding.encode("aZ09-._~") == "aZ09-._~")
        #expect(PercentEncoding.encode("a b/&=+%微") == "a%20b%2F%26%3D%2B%25%E5%BE%AE")
    }

    @Test func htmlEscapingCoversTextAndQuotedAttributes() {
        #expect(
            HTMLText.escape(#"<a href="x" title='y'>&</a>"#)
                == "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        )
        // A quote or bracket followed by a combining mark is one Character but still a plain quote to HTML.
        #expect(
            HTMLText.escape("\"\u{301}'\u{301}<\u{301}&\u{301}") == "&quot;\u{301}&#39;\u{301}&lt;\u{301}&amp;\u{301}"
        )
    }
}
