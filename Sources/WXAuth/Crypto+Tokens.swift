import Crypto
import Encodings
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
        prefix + Hex.encode(random.bytes(16))
    }
}

/// The data keyring of CONTRACT §5 (`WXAUTH_DATA_KEYS`): the first key seals, every key opens.
///
/// Without a key set, the one key is derived from `WXAUTH_JWT_SECRET` as before this keyring existed; with one,
/// that derived key (when the secret is still set) stays as the last opener, so values sealed before keep opening.
public struct DataKeyring: Sendable {
    struct Entry: Sendable {
        var kid: String
        /// The root each purpose's key is derived from by HKDF.
        var root: SymmetricKey
    }

    /// Never empty; `entries[0]` seals.
    let entries: [Entry]
    /// The key derived from `WXAUTH_JWT_SECRET`: values sealed before kids were recorded carry none and open only with it.
    let legacy: Entry?

    /// Exactly 32 bytes: AES-256's key size, so a key is never stretched or cut.
    static let keyBytes = 32

    /// The key derived from `WXAUTH_JWT_SECRET` alone (no `WXAUTH_DATA_KEYS`).
    public init(secret: Secret) {
        let derived = Self.derived(secret)
        entries = [derived]
        legacy = derived
    }

    /// `WXAUTH_DATA_KEYS` (a JWK Set of 32-byte `oct` keys), and `WXAUTH_JWT_SECRET`'s derived key, if set, to open
    /// older values. Errors name the setting and a key's position, never a value.
    public init(jwkSet text: String, secret: Secret?) throws(ConfigError) {
        var entries: [Entry] = []
        for jwk in try JWKSetReader.entries(text, setting: "WXAUTH_DATA_KEYS") {
            let kid = try jwk.kid()
            let label = "WXAUTH_DATA_KEYS \(jwk.name) (kid \"\(kid)\")"
            guard try jwk.string("kty") == "oct" else { throw ConfigError(description: "\(label) must have kty oct") }
            if let alg = try jwk.string("alg"), alg != "A256GCM" {
                throw ConfigError(description: "\(label) must have alg A256GCM, or none")
            }
            let bytes = try jwk.bytes("k")
            guard bytes.count == Self.keyBytes else {
                throw ConfigError(description: "\(label) must be exactly \(Self.keyBytes) bytes")
            }
            guard !entries.contains(where: { $0.kid == kid }) else {
                throw ConfigError(description: "WXAUTH_DATA_KEYS lists the kid \"\(kid)\" twice")
            }
            entries.append(Entry(kid: kid, root: SymmetricKey(data: bytes)))
        }
        legacy = secret.map(Self.derived)
        self.entries = entries + (legacy.map { [$0] } ?? [])
    }

    private static func derived(_ secret: Secret) -> Entry {
        let root = SymmetricKey(data: Array(secret.revealed.utf8))
        return Entry(kid: "derived-" + KeyFingerprint.of(root, label: "data"), root: root)
    }

    /// A box for one purpose: each purpose gets its own key from every root.
    public func box(purpose: String) -> SecretBox {
        SecretBox(keyring: self, purpose: purpose)
    }
}

/// Encrypts secrets at rest (session_key, WeChat tokens) with AES-256-GCM under keys derived by HKDF from the
/// data keyring; each sealed value starts with the `kid` of the key that sealed it.
///
/// Keys are derived when used, not when the box is made: most invocations (a userinfo, a refresh) never touch a
/// secret at rest, and every generic crypto type instantiated costs a cold start time.
public struct SecretBox: Sendable {
    private let keyring: DataKeyring
    private let purpose: String

    /// `purpose` separates this key from the others derived from the same roots.
    public init(keyring: DataKeyring, purpose: String = "wxauth/at-rest/v1") {
        self.keyring = keyring
        self.purpose = purpose
    }

    /// Marks a value that records its kid: `marker ‖ kid length ‖ kid ‖ nonce ‖ ciphertext ‖ tag`. A value sealed
    /// before kids (bare `nonce ‖ ciphertext ‖ tag`) that happens to start alike still opens: see ``open(_:)``.
    private static let marker: [UInt8] = [0xF7, 0x6B, 0x01]

    private func key(_ entry: DataKeyring.Entry) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: entry.root,
            salt: Array("wxauth".utf8),
            info: Array(purpose.utf8),
            outputByteCount: 32
        )
    }

    public func seal(_ secret: Secret) throws -> [UInt8] {
        let entry = keyring.entries[0]
        guard let combined = try AES.GCM.seal(Array(secret.revealed.utf8), using: key(entry)).combined else {
            throw AuthError.misconfigured("encryption failed")
        }
        return Self.marker + [UInt8(entry.kid.utf8.count)] + Array(entry.kid.utf8) + Array(combined)
    }

    /// Opens a value sealed under any listed key: the one its kid names, else (a value from before kids) the
    /// key derived from `WXAUTH_JWT_SECRET`.
    public func open(_ sealed: [UInt8]) throws -> Secret {
        if sealed.starts(with: Self.marker), sealed.count > Self.marker.count {
            let kidEnd = Self.marker.count + 1 + Int(sealed[Self.marker.count])
            if kidEnd <= sealed.count,
                let entry = keyring.entries.first(where: {
                    Array($0.kid.utf8) == Array(sealed[Self.marker.count + 1..<kidEnd])
                }),
                let opened = try? Self.open(Array(sealed[kidEnd...]), key: key(entry))
            {
                return opened
            }
        }
        guard let legacy = keyring.legacy else { throw AuthError.misconfigured("no listed data key opens this value") }
        return try Self.open(sealed, key: key(legacy))
    }

    private static func open(_ combined: [UInt8], key: SymmetricKey) throws -> Secret {
        Secret(String(decoding: try AES.GCM.open(try AES.GCM.SealedBox(combined: combined), using: key), as: UTF8.self))
    }

    /// HMAC-SHA256 of `message` under this purpose's key from the sealing root (a signed `state`, say).
    public func authenticationCode(_ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: key(keyring.entries[0])))
    }

    /// Whether `tag` is the authentication code of `message` (or its first `tag.count` bytes) under any key of the
    /// keyring, so a state signed before a rotation still verifies while its key is listed. Every key is tried,
    /// each comparison in constant time.
    public func isAuthenticationCode(_ tag: [UInt8], of message: [UInt8]) -> Bool {
        guard !tag.isEmpty else { return false }
        var matched = false
        for entry in keyring.entries {
            let code = Array(HMAC<SHA256>.authenticationCode(for: message, using: key(entry)).prefix(tag.count))
            matched = ConstantTime.equals(code, tag) || matched
        }
        return matched
    }
}
