import Crypto
import Encodings
import FunctionRuntime
import WeChat

/// The keys server-to-server calls are signed with (`WXAUTH_ADMIN_KEYS`, CONTRACT §9): a JWK Set of `oct` keys
/// of at least 32 bytes, each with its own `kid`, so a key can be added before the old one is removed.
package struct AdminKeys: Sendable {
    static let settingName = "WXAUTH_ADMIN_KEYS"
    static let minimumKeyBytes = 32

    private let keys: [String: SymmetricKey]
    /// The set's first key and its id: what `local-runner sign` signs with.
    package let signer: (kid: String, key: SymmetricKey)

    /// One key (tests).
    init(kid: String, key: [UInt8]) {
        keys = [kid: SymmetricKey(data: key)]
        signer = (kid, SymmetricKey(data: key))
    }

    /// Parses a JWK Set with the one reader of key sets; the error names the setting and what is wrong, never a key.
    package init(jwkSet text: String) throws(AuthError) {
        var keys: [String: SymmetricKey] = [:]
        var signer: (kid: String, key: SymmetricKey)?
        do throws(ConfigError) {
            for jwk in try JWKSetReader.entries(text, setting: Self.settingName) {
                let kid = try jwk.kid()
                guard try jwk.string("kty") == "oct" else {
                    throw ConfigError(description: "every key of \(Self.settingName) must be an oct JWK")
                }
                let bytes = try jwk.bytes("k")
                guard bytes.count >= Self.minimumKeyBytes else {
                    throw ConfigError(
                        description: "the keys of \(Self.settingName) must be at least \(Self.minimumKeyBytes) bytes"
                    )
                }
                guard keys[kid] == nil else { throw ConfigError(description: "\(Self.settingName) lists a kid twice") }
                keys[kid] = SymmetricKey(data: bytes)
                signer = signer ?? (kid, SymmetricKey(data: bytes))
            }
        } catch {
            throw .misconfigured(error.description)
        }
        // JWKSetReader refuses an empty set, so there is always a first key.
        guard let signer else { throw .misconfigured("\(Self.settingName) lists no key") }
        self.keys = keys
        self.signer = signer
    }

    func key(id: String) -> SymmetricKey? { keys[id] }
}

/// CONTRACT §9: a request signed with HMAC-SHA256 over its method, path, timestamp, nonce and body hash.
package enum SignedRequest {
    static let keyIdHeader = "x-wxauth-key-id"
    static let timestampHeader = "x-wxauth-timestamp"
    static let nonceHeader = "x-wxauth-nonce"
    static let signatureHeader = "x-wxauth-signature"
    /// How far a request's timestamp may be from our clock, seconds; nonces are remembered as long.
    static let window: Int64 = 300

    /// What the signature covers.
    static func canonical(method: String, path: String, timestamp: String, nonce: String, body: [UInt8]) -> String {
        method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + Hex.encode(Array(SHA256.hash(data: body)))
    }

    /// The lower-case hex signature of a request (what `local-runner sign` prints, and tests compute).
    package static func signature(
        key: SymmetricKey,
        method: String,
        path: String,
        timestamp: String,
        nonce: String,
        body: [UInt8]
    ) -> String {
        let message = canonical(method: method, path: path, timestamp: timestamp, nonce: nonce, body: body)
        return Hex.encode(Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key)))
    }

    /// The signing key's id and the nonce's expiry when the request is signed by a listed key within the window;
    /// the nonce is not checked here (it needs the store). Every refusal is the same 401 to the caller, but the
    /// reason is returned for the log.
    static func verify(
        _ request: FunctionRequest,
        keys: AdminKeys,
        now: Int64
    ) -> Result<(keyId: String, nonce: String, nonceExpiresAt: Int64), Refusal> {
        guard let keyId = request.header(keyIdHeader), let key = keys.key(id: keyId) else {
            return .failure(.unknownKey)
        }
        guard let text = request.header(timestampHeader), text.utf8.count <= 12,
            text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let timestamp = Int64(text), timestamp >= now - window, timestamp <= now + window
        else { return .failure(.staleTimestamp) }
        guard let nonce = request.header(nonceHeader), (16...64).contains(nonce.utf8.count),
            nonce.utf8.allSatisfy(isNonceCharacter)
        else { return .failure(.badNonce) }
        guard let presented = request.header(signatureHeader) else { return .failure(.badSignature) }
        let expected = signature(
            key: key,
            method: request.method.uppercased(),
            path: request.path,
            timestamp: text,
            nonce: nonce,
            body: request.body
        )
        guard ConstantTime.equals(Array(presented.utf8), Array(expected.utf8)) else { return .failure(.badSignature) }
        // Remembered until the timestamp leaves the window: a replay after that is refused for its timestamp.
        return .success((keyId, nonce, timestamp + window + 1))
    }

    private static func isNonceCharacter(_ byte: UInt8) -> Bool {
        Base64URL.isAlphabet(byte)
    }

    /// Why a signed request was refused (for logs; the caller sees one 401).
    enum Refusal: String, Error {
        case unknownKey = "unknown key id"
        case staleTimestamp = "timestamp missing or more than 300 s away"
        case badNonce = "nonce missing or not 16-64 characters of [A-Za-z0-9_-]"
        case badSignature = "signature does not match"
        case replayed = "nonce already used"
    }
}
