import Crypto
import CryptoExtras
import Encodings
import FunctionRuntime
import WeChat

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The JWS algorithms access tokens may be signed with (CONTRACT §5).
public enum SigningAlgorithm: String, Sendable, CaseIterable {
    case es256 = "ES256"
    case eddsa = "EdDSA"
    case rs256 = "RS256"
    case hs256 = "HS256"
}

/// One key of `WXAUTH_SIGNING_KEYS`: its `kid`, and the key its `alg` pins verification to.
public struct SigningKey: Sendable {
    enum Material: Sendable {
        case hmac(SymmetricKey)
        case p256(P256.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
        /// The modulus and exponent are kept as given (big-endian, no leading zeros) for the public JWK.
        case rsa(_RSA.Signing.PrivateKey, n: [UInt8], e: [UInt8])
    }

    public let kid: String
    let material: Material

    public var algorithm: SigningAlgorithm {
        switch material {
        case .hmac: .hs256
        case .p256: .es256
        case .ed25519: .eddsa
        case .rsa: .rs256
        }
    }

    /// The JWS signature of `input` (the ASCII of `header.payload`).
    func sign(_ input: [UInt8]) throws -> [UInt8] {
        switch material {
        case .hmac(let key): Array(HMAC<SHA256>.authenticationCode(for: input, using: key))
        case .p256(let key): Array(try key.signature(for: input).rawRepresentation)
        case .ed25519(let key): Array(try key.signature(for: input))
        case .rsa(let key, _, _): Array(try key.signature(for: input, padding: .insecurePKCS1v1_5).rawRepresentation)
        }
    }

    /// Whether `signature` is this key's over `input`; the caller has already pinned the header's `alg` to this key.
    func isValidSignature(_ signature: [UInt8], for input: [UInt8]) -> Bool {
        switch material {
        case .hmac(let key):
            return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: key)
        case .p256(let key):
            guard let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.publicKey.isValidSignature(parsed, for: input)
        case .ed25519(let key):
            return key.publicKey.isValidSignature(signature, for: input)
        case .rsa(let key, let n, _):
            guard signature.count == n.count else { return false }
            return key.publicKey.isValidSignature(
                _RSA.Signing.RSASignature(rawRepresentation: signature),
                for: input,
                padding: .insecurePKCS1v1_5
            )
        }
    }

    /// The public JWK's members in a stable order; nil for an HMAC key, which has no public half.
    var publicJWK: [(String, String)]? {
        let common = [("kid", kid), ("alg", algorithm.rawValue), ("use", "sig")]
        switch material {
        case .hmac:
            return nil
        case .p256(let key):
            let point = Array(key.publicKey.x963Representation.dropFirst())
            return [
                ("kty", "EC"), ("crv", "P-256"), ("x", Base64URL.encode(Array(point[..<32]))),
                ("y", Base64URL.encode(Array(point[32...]))),
            ] + common
        case .ed25519(let key):
            return [
                ("kty", "OKP"), ("crv", "Ed25519"), ("x", Base64URL.encode(Array(key.publicKey.rawRepresentation))),
            ]
                + common
        case .rsa(_, let n, let e):
            return [("kty", "RSA"), ("n", Base64URL.encode(n)), ("e", Base64URL.encode(e))] + common
        }
    }
}

/// The signing keyring: the first key signs, every key verifies (CONTRACT §5).
public struct SigningKeySet: Sendable {
    /// Never empty; `keys[0]` signs.
    public let keys: [SigningKey]

    /// The smallest RSA modulus accepted, in bits.
    static let minimumRSABits = 2048

    /// The key that signs new tokens.
    public var signer: SigningKey { keys[0] }

    /// The key a token's `kid` names, if listed.
    func key(kid: String) -> SigningKey? { keys.first { $0.kid == kid } }

    /// The default when no key set is configured: HS256 under `WXAUTH_JWT_SECRET`'s UTF-8 bytes, with a `kid`
    /// derived from the secret, so every instance names it alike and a new secret gets a new `kid`.
    public init(secret: Secret) {
        let key = SymmetricKey(data: Array(secret.revealed.utf8))
        keys = [SigningKey(kid: "hs256-" + KeyFingerprint.of(key, label: "signing"), material: .hmac(key))]
    }

    /// A private JWK Set (`WXAUTH_SIGNING_KEYS`). The error names the setting and a key's position or `kid`,
    /// never a key's value.
    public init(jwkSet text: String) throws(ConfigError) {
        let entries = try JWKSetReader.entries(text, setting: "WXAUTH_SIGNING_KEYS")
        var keys: [SigningKey] = []
        for (position, jwk) in entries.enumerated() {
            let key = try Self.key(jwk, describedAs: "key \(position + 1)")
            guard !keys.contains(where: { $0.kid == key.kid }) else {
                throw ConfigError(description: "WXAUTH_SIGNING_KEYS lists the kid \"\(key.kid)\" twice")
            }
            keys.append(key)
        }
        self.keys = keys
    }

    /// The public JWK Set document (`{"keys":[…]}`): asymmetric keys only, public members only.
    public var publicJWKSet: String {
        let members = keys.compactMap(\.publicJWK).map { jwk in
            "{" + jwk.map { JSONText.quote($0.0) + ":" + JSONText.quote($0.1) }.joined(separator: ",") + "}"
        }
        return #"{"keys":["# + members.joined(separator: ",") + "]}"
    }

    private static func key(_ jwk: JWKSetReader.Entry, describedAs name: String) throws(ConfigError) -> SigningKey {
        let setting = "WXAUTH_SIGNING_KEYS"
        let kid = try jwk.kid()
        let label = "\(setting) \(name) (kid \"\(kid)\")"
        let algorithm = try jwk.string("alg")
        if let use = try jwk.string("use"), use != "sig" {
            throw ConfigError(description: "\(label) must have use \"sig\"")
        }
        let kty = try jwk.string("kty")
        switch (SigningAlgorithm(rawValue: algorithm ?? ""), kty) {
        case (.hs256, "oct"):
            let secret = try jwk.bytes("k")
            guard secret.count >= Config.minimumSecretBytes else {
                throw ConfigError(
                    description: "\(label) is too weak: HS256 needs at least \(Config.minimumSecretBytes) bytes"
                )
            }
            return SigningKey(kid: kid, material: .hmac(SymmetricKey(data: secret)))
        case (.es256, "EC"):
            guard try jwk.string("crv") == "P-256" else {
                throw ConfigError(description: "\(label) must have crv P-256")
            }
            let (x, y, d) = (try jwk.bytes("x"), try jwk.bytes("y"), try jwk.bytes("d"))
            guard x.count == 32, y.count == 32, d.count == 32,
                let key = try? P256.Signing.PrivateKey(rawRepresentation: d),
                Array(key.publicKey.x963Representation) == [0x04] + x + y
            else { throw ConfigError(description: "\(label) is not a valid P-256 private key") }
            return SigningKey(kid: kid, material: .p256(key))
        case (.eddsa, "OKP"):
            guard try jwk.string("crv") == "Ed25519" else {
                throw ConfigError(description: "\(label) must have crv Ed25519")
            }
            let (x, d) = (try jwk.bytes("x"), try jwk.bytes("d"))
            guard d.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: d),
                Array(key.publicKey.rawRepresentation) == x
            else { throw ConfigError(description: "\(label) is not a valid Ed25519 private key") }
            return SigningKey(kid: kid, material: .ed25519(key))
        case (.rs256, "RSA"):
            let n = Array(try jwk.bytes("n").drop { $0 == 0 })
            let e = Array(try jwk.bytes("e").drop { $0 == 0 })
            guard n.count * 8 >= minimumRSABits, n[0] >= 0x80 || n.count * 8 > minimumRSABits else {
                throw ConfigError(
                    description: "\(label) is too weak: RS256 needs a modulus of at least \(minimumRSABits) bits"
                )
            }
            let (d, p, q) = (try jwk.bytes("d"), try jwk.bytes("p"), try jwk.bytes("q"))
            guard let key = try? _RSA.Signing.PrivateKey(n: n, e: e, d: d, p: p, q: q) else {
                throw ConfigError(description: "\(label) is not a valid RSA private key")
            }
            return SigningKey(kid: kid, material: .rsa(key, n: n, e: e))
        case (nil, _):
            throw ConfigError(description: "\(label) has an alg that is not ES256, EdDSA, RS256 or HS256")
        case (let algorithm?, _):
            throw ConfigError(
                description: "\(label): alg \(algorithm.rawValue) does not go with kty \(kty ?? "(missing)")"
            )
        }
    }
}

/// A short public name for a secret key, derived with HMAC so it says nothing of the key.
enum KeyFingerprint {
    static func of(_ key: SymmetricKey, label: String) -> String {
        Base64URL.encode(
            Array(HMAC<SHA256>.authenticationCode(for: Array(("wxauth/kid/" + label).utf8), using: key).prefix(9))
        )
    }
}

/// Reads a JWK Set (`{"keys":[{…},…]}`) with the strict event parser; errors name the setting, never a value.
enum JWKSetReader {
    /// One JWK's members.
    struct Entry {
        var members: [(String, EventJSON)]
        var setting: String
        var name: String

        func string(_ member: String) throws(ConfigError) -> String? {
            guard let value = members.first(where: { $0.0 == member })?.1 else { return nil }
            guard case .string(let text) = value else {
                throw ConfigError(description: "\(setting) \(name): \(member) must be a string")
            }
            return text
        }

        /// A required base64url member, decoded.
        func bytes(_ member: String) throws(ConfigError) -> [UInt8] {
            guard let text = try string(member), let bytes = Base64URL.decode(text), !bytes.isEmpty else {
                throw ConfigError(description: "\(setting) \(name): \(member) must be present, in base64url")
            }
            return bytes
        }

        /// The `kid`: required, printable ASCII, at most 64 characters (it is written into tokens and sealed values).
        func kid() throws(ConfigError) -> String {
            guard let kid = try string("kid"), !kid.isEmpty, kid.utf8.count <= 64,
                kid.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
            else {
                throw ConfigError(description: "\(setting) \(name) needs a kid of 1 to 64 printable ASCII characters")
            }
            return kid
        }
    }

    static func entries(_ text: String, setting: String) throws(ConfigError) -> [Entry] {
        guard let root = try? EventJSON.parse(Array(text.utf8)), case .object(let top) = root,
            case .array(let items)? = root["keys"], top.count(where: { $0.0 == "keys" }) == 1
        else { throw ConfigError(description: "\(setting) must be a JWK Set: {\"keys\": [ … ]}") }
        guard !items.isEmpty else { throw ConfigError(description: "\(setting) lists no key") }
        var entries: [Entry] = []
        for (position, item) in items.enumerated() {
            guard case .object(let members) = item, Set(members.map(\.0)).count == members.count else {
                throw ConfigError(
                    description: "\(setting) key \(position + 1) must be a JSON object without repeated members"
                )
            }
            entries.append(Entry(members: members, setting: setting, name: "key \(position + 1)"))
        }
        return entries
    }
}
