import Crypto
import Encodings
import FunctionRuntime
import WeChat

/// The `state` of a web sign-in: 16 random bytes (the id the store knows it by), its expiry, a hash of the
/// browser's binding cookie and an HMAC tag, in lower-case hex — 104 characters of `[0-9a-f]`, as WeChat
/// requires (`[A-Za-z0-9]`, at most 128).
///
/// The tag lets the callback refuse a forged or expired state without touching the database. The binding
/// hash ties the state to the browser that started the sign-in (``LoginBinding``) while the state stays
/// verifiable on its own, as it must be inside WeChat, whose browser loses cookies. Single use comes from
/// the store, which binds the state to the first code presented with it.
enum SignedState {
    /// How long a sign-in may take between `GET /login` and the callback, seconds.
    static let lifetime: Int64 = 600

    private static let idBytes = 16
    private static let tagBytes = 16

    /// What a verified state says: the store's id for the sign-in and the binding it was issued for.
    struct Verified: Equatable {
        var id: String
        var bindingHash: [UInt8]
    }

    /// A new state for a browser's binding, and its id.
    static func make(expiresAt: Int64, binding: LoginBinding, services: Services) -> (state: String, id: String) {
        let id = services.random.bytes(idBytes)
        let message = id + bigEndian(UInt32(clamping: expiresAt)) + binding.hash
        let tag = box(services).authenticationCode(message).prefix(tagBytes)
        return (hex(message + tag), hex(id))
    }

    /// The id and binding of a state this server made and that has not expired.
    static func verify(_ state: String, now: Int64, services: Services) throws(AuthError) -> Verified {
        let messageBytes = idBytes + 4 + LoginBinding.hashBytes
        guard let bytes = unhex(state), bytes.count == messageBytes + tagBytes else {
            throw .invalidState("the state was not issued by this server")
        }
        let message = Array(bytes.prefix(messageBytes))
        guard box(services).isAuthenticationCode(Array(bytes.suffix(tagBytes)), of: message) else {
            throw .invalidState("the state was not issued by this server")
        }
        let expiresAt = bytes[idBytes..<idBytes + 4].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        guard expiresAt >= now else { throw .invalidState("the sign-in took too long; start again") }
        return Verified(
            id: hex(Array(bytes.prefix(idBytes))),
            bindingHash: Array(message.suffix(LoginBinding.hashBytes))
        )
    }

    private static func box(_ services: Services) -> SecretBox {
        services.config.dataKeys.box(purpose: "wxauth/state/v2")
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
            guard let high = Hex.value(of: utf8[index]), let low = Hex.value(of: utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

/// The `wxauth_login` cookie `GET /login` sets: a random value whose hash the state carries, so the callback
/// knows the browser that brings it back is the one that started the sign-in (login CSRF, RFC 9700 §4.7).
struct LoginBinding: Equatable {
    static let cookieName = "wxauth_login"
    static let hashBytes = 16
    private static let valueBytes = 16

    /// The cookie's value: 32 lower-case hex digits.
    let value: String

    /// The browser's binding when its cookie carries a well-formed one, else a new one.
    static func reuseOrMake(_ cookie: String?, random: any RandomSource) -> LoginBinding {
        if let cookie, isWellFormed(cookie) { return LoginBinding(value: cookie) }
        return LoginBinding(value: Hex.encode(random.bytes(valueBytes)))
    }

    /// What the state commits to.
    var hash: [UInt8] { Self.hash(of: value) }

    /// `Set-Cookie`: as long-lived as the state, sent only to this site and never to scripts.
    var setCookie: String {
        "\(Self.cookieName)=\(value); HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=\(SignedState.lifetime)"
    }

    /// Whether a cookie value is the binding a state was issued for.
    static func matches(_ cookie: String, bindingHash: [UInt8]) -> Bool {
        isWellFormed(cookie) && ConstantTime.equals(hash(of: cookie), bindingHash)
    }

    private static func hash(of value: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(("wxauth/login-binding/v1/" + value).utf8)).prefix(hashBytes))
    }

    private static func isWellFormed(_ value: String) -> Bool {
        value.utf8.count == valueBytes * 2 && value.utf8.allSatisfy { Hex.value(of: $0) != nil }
    }
}
