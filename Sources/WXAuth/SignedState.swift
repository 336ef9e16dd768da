import FunctionRuntime
import WeChat

/// The `state` of a web sign-in: 16 random bytes (the id the store knows it by), its expiry and an HMAC tag,
/// in lower-case hex — 72 characters of `[0-9a-f]`, as WeChat requires (`[A-Za-z0-9]`, at most 128).
///
/// The tag lets the callback refuse a forged or expired state without touching the database, and needs no
/// cookie (WeChat's in-app browser loses them). Single use comes from the store, which binds the state to
/// the first code presented with it.
enum SignedState {
    /// How long a sign-in may take between `GET /login` and the callback, seconds.
    static let lifetime: Int64 = 600

    private static let idBytes = 16
    private static let tagBytes = 16

    /// A new state and its id.
    static func make(expiresAt: Int64, services: Services) -> (state: String, id: String) {
        let id = services.random.bytes(idBytes)
        let message = id + bigEndian(UInt32(clamping: expiresAt))
        let tag = box(services).authenticationCode(message).prefix(tagBytes)
        return (hex(message + tag), hex(id))
    }

    /// The id of a state this server made and that has not expired.
    static func verify(_ state: String, now: Int64, services: Services) throws(AuthError) -> String {
        guard let bytes = unhex(state), bytes.count == idBytes + 4 + tagBytes else {
            throw .invalidState("the state was not issued by this server")
        }
        let message = Array(bytes.prefix(idBytes + 4))
        let expected = box(services).authenticationCode(message).prefix(tagBytes)
        guard ConstantTime.equals(expected, bytes.suffix(tagBytes)) else {
            throw .invalidState("the state was not issued by this server")
        }
        let expiresAt = bytes[idBytes..<idBytes + 4].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        guard expiresAt >= now else { throw .invalidState("the sign-in took too long; start again") }
        return hex(Array(bytes.prefix(idBytes)))
    }

    private static func box(_ services: Services) -> SecretBox {
        services.config.dataKeys.box(purpose: "wxauth/state/v1")
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    private static func hex(_ bytes: some Collection<UInt8>) -> String { Hex.encode(bytes) }

    private static func unhex(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0, utf8.count <= 128 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < utf8.count {
            guard let high = PercentDecoding.hexValue(utf8[index]), let low = PercentDecoding.hexValue(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

/// Lower-case hexadecimal.
enum Hex {
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
