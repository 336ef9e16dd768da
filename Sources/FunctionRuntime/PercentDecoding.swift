import Encodings

/// `%XX` decoding: lenient for request query strings and forms (``APIGatewayEvent/percentDecode(_:)``), strict
/// for values that must be exactly what they say (redirect targets, a database URL's parts).
public enum PercentDecoding {
    /// Decodes `%XX` escapes once (`+` stays `+`); nil for a malformed escape or bytes that are not UTF-8.
    public static func strict(_ text: some StringProtocol) -> String? {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = utf8.popFirst().flatMap(hexValue), let low = utf8.popFirst().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The value of one hexadecimal digit, either case.
    public static func hexValue(_ byte: UInt8) -> UInt8? { Hex.value(of: byte) }
}
