import Crypto
import WeChat
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where random bytes come from; injected so tests are repeatable.
public protocol RandomSource: Sendable {
    func bytes(_ count: Int) -> [UInt8]
}

/// The system's cryptographically secure generator.
public struct SystemRandomSource: RandomSource {
    public init() {}
    public func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}

/// Where the time comes from (whole seconds since the epoch); injected so expiry is tested without waiting.
public protocol AuthClock: Sendable {
    var nowSeconds: Int64 { get }
}

/// The real wall clock.
public struct SystemAuthClock: AuthClock {
    public init() {}
    public var nowSeconds: Int64 { Int64(Date().timeIntervalSince1970) }
}

/// Opaque refresh tokens: 256 random bits, base64url, stored only as their SHA-256.
public enum RefreshToken {
    public static func generate(_ random: some RandomSource) -> Secret {
        Secret(Base64URL.encode(random.bytes(32)))
    }

    public static func hash(_ token: Secret) -> [UInt8] {
        Array(SHA256.hash(data: Array(token.revealed.utf8)))
    }

    /// Whether the text can be one of ours (43 base64url characters); anything else is unknown without a lookup.
    public static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 43 && text.utf8.allSatisfy(Base64URL.isAlphabet)
    }
}

/// Random identifiers for users, families and JWT ids: 128 bits, lower-case hex, with a readable prefix.
enum Identifier {
    static func make(_ prefix: String, _ random: some RandomSource) -> String {
        prefix + random.bytes(16).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

/// Encrypts secrets at rest (session_key, WeChat tokens) with AES-256-GCM under a key derived by HKDF.
///
/// The key is derived when first used, not when the box is made: most invocations (a userinfo, a refresh)
/// never touch a secret at rest, and every generic crypto type instantiated costs a cold start time.
public struct SecretBox: Sendable {
    private let rootSecret: Secret
    private let purpose: String

    /// `purpose` separates this key from the JWT key that shares the same root.
    public init(rootSecret: Secret, purpose: String = "wxauth/at-rest/v1") {
        self.rootSecret = rootSecret
        self.purpose = purpose
    }

    private var key: SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(rootSecret.revealed.utf8)),
            salt: Array("wxauth".utf8),
            info: Array(purpose.utf8),
            outputByteCount: 32
        )
    }

    /// nonce ‖ ciphertext ‖ tag.
    public func seal(_ secret: Secret) throws -> [UInt8] {
        guard let combined = try AES.GCM.seal(Array(secret.revealed.utf8), using: key).combined else {
            throw AuthError.misconfigured("encryption failed")
        }
        return Array(combined)
    }

    public func open(_ sealed: [UInt8]) throws -> Secret {
        let box = try AES.GCM.SealedBox(combined: sealed)
        return Secret(String(decoding: try AES.GCM.open(box, using: key), as: UTF8.self))
    }

    /// HMAC-SHA256 of `message` under this box's key (a signed `state`, say).
    public func authenticationCode(_ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }
}

/// base64url without padding (RFC 4648 §5), as JWTs and our refresh tokens use.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 2 < bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(value >> UInt32(shift) & 63)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let value = UInt32(bytes[index]) << 16
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
        } else if rest == 2 {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            for shift in [18, 12, 6] { out.append(alphabet[Int(value >> UInt32(shift) & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var standard: [UInt8] = []
        for byte in text.utf8 {
            guard isAlphabet(byte) else { return nil }
            standard.append(byte == UInt8(ascii: "-") ? UInt8(ascii: "+") : byte == UInt8(ascii: "_") ? UInt8(ascii: "/") : byte)
        }
        while standard.count % 4 != 0 { standard.append(UInt8(ascii: "=")) }
        return Data(base64Encoded: Data(standard)).map(Array.init)
    }

    static func isAlphabet(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }
}
