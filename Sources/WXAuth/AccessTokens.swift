import Encodings
import FunctionRuntime

/// The access token's claims (CONTRACT §5, RFC 9068); times in whole seconds since the epoch.
public struct AccessClaims: Sendable, Equatable {
    public var iss: String
    public var aud: String
    public var sub: String
    public var iat: Int64
    public var exp: Int64
    /// RFC 7519 `nbf`; never written by us, honoured when a token carries it.
    public var nbf: Int64?
    public var jti: String
    /// The WeChat appid the user signed in through.
    public var clientId: String
    /// The refresh-token family: the sign-in session this token belongs to.
    public var sid: String
}

/// Issues and verifies access tokens: JWS compact serialisation over swift-crypto, signed by the first key of the
/// signing keyring and verified by the key its `kid` names, with the algorithm pinned to that key.
///
/// The whole token format lives here behind `issue` and `verify`, so it can change without touching the flows.
public struct AccessTokens: Sendable {
    public let keys: SigningKeySet
    public var issuer: String
    public var audience: String
    /// Lifetime of a new token, seconds.
    public var ttl: Int64
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds (CONTRACT §5: at most 30).
    public var leeway: Int64 = 30

    /// The RFC 9068 media type, as `typ` carries it.
    static let mediaType = "at+jwt"
    /// Longer tokens are refused unread; an RS256 token with our claims is under 700 bytes.
    static let maximumLength = 8192
    /// NumericDates outside 0 … year 9999 are invalid rather than converted: no arithmetic on them can overflow.
    static let latestTime: Int64 = 253_402_300_799

    public init(keys: SigningKeySet, issuer: String, audience: String, ttl: Int64) {
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
    }

    /// A new signed token for the user's session.
    public func issue(
        subject: String,
        session: String,
        clientId: String,
        jti: String,
        now: Int64
    ) throws(AuthError) -> String {
        let signer = keys.signer
        let header =
            #"{"alg":"# + JSONText.quote(signer.algorithm.rawValue) + #","typ":"at+jwt","kid":"#
            + JSONText.quote(signer.kid) + "}"
        let (expiry, overflow) = now.addingReportingOverflow(ttl)
        guard !overflow else { throw .misconfigured("WXAUTH_ACCESS_TTL is out of range") }
        let claims = [
            ("iss", JSONText.quote(issuer)), ("aud", JSONText.quote(audience)), ("sub", JSONText.quote(subject)),
            ("iat", String(now)), ("exp", String(expiry)), ("jti", JSONText.quote(jti)),
            ("client_id", JSONText.quote(clientId)), ("sid", JSONText.quote(session)),
        ]
        let payload = "{" + claims.map { JSONText.quote($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        do {
            return input + "." + Base64URL.encode(try signer.sign(Array(input.utf8)))
        } catch {
            throw .misconfigured("the access token could not be signed")
        }
    }

    /// The claims of a valid token; every failure is `invalid_token`.
    public func verify(_ token: String, now: Int64) throws(AuthError) -> AccessClaims {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard token.utf8.count <= Self.maximumLength, parts.count == 3,
            let headerBytes = Base64URL.decode(Substring(parts[0])), let header = Self.object(headerBytes),
            let payloadBytes = Base64URL.decode(Substring(parts[1])), let payload = Self.object(payloadBytes),
            let signature = Base64URL.decode(Substring(parts[2]))
        else { throw .invalidToken("the access token is malformed") }

        // The key is chosen by kid and the header's alg must be that key's: no `none`, no other algorithm, and
        // no HMAC keyed with a public key.
        guard case .string(let kid)? = header["kid"], let key = keys.key(kid: kid),
            case .string(let alg)? = header["alg"], alg == key.algorithm.rawValue
        else { throw .invalidToken("the access token's key or algorithm is not accepted") }
        guard header["crit"] == nil else { throw .invalidToken("the access token has critical extensions") }
        guard case .string(let type)? = header["typ"], Self.isAccessTokenType(type) else {
            throw .invalidToken("the access token's typ is not at+jwt")
        }
        let signed = Array(token.utf8.prefix(parts[0].count + 1 + parts[1].count))
        guard key.isValidSignature(signature, for: signed) else {
            throw .invalidToken("the access token's signature is invalid")
        }

        guard let iss = Self.string(payload, "iss"), let sub = Self.string(payload, "sub"),
            let jti = Self.string(payload, "jti"), let sid = Self.string(payload, "sid"),
            let clientId = Self.string(payload, "client_id"),
            let iat = Self.time(payload, "iat"), let exp = Self.time(payload, "exp")
        else { throw .invalidToken("the access token lacks a claim or has one of the wrong type") }
        let nbf: Int64?
        if payload["nbf"] != nil {
            guard let time = Self.time(payload, "nbf") else { throw .invalidToken("the access token's nbf is invalid") }
            nbf = time
        } else {
            nbf = nil
        }
        guard iss == issuer, Self.audiences(payload)?.contains(audience) == true else {
            throw .invalidToken("the access token was not issued for this service")
        }
        // `now` is a sane clock and every time is within 0 … year 9999, so none of these sums can overflow.
        guard exp > now - leeway else { throw .invalidToken("the access token has expired") }
        guard iat <= now + leeway, (nbf ?? 0) <= now + leeway else {
            throw .invalidToken("the access token is not valid yet")
        }
        return AccessClaims(
            iss: iss,
            aud: audience,
            sub: sub,
            iat: iat,
            exp: exp,
            nbf: nbf,
            jti: jti,
            clientId: clientId,
            sid: sid
        )
    }

    /// `at+jwt`, or its full media type (RFC 9068 §4), compared without case as media types are.
    static func isAccessTokenType(_ type: String) -> Bool {
        let lowered = type.lowercased()
        return lowered == Self.mediaType || lowered == "application/" + Self.mediaType
    }

    /// A JSON object without repeated member names (which two readers could resolve differently).
    private static func object(_ bytes: [UInt8]) -> EventJSON? {
        guard let value = try? EventJSON.parse(bytes, maxDepth: 8), case .object(let members) = value,
            Set(members.map(\.0)).count == members.count
        else { return nil }
        return value
    }

    private static func string(_ object: EventJSON, _ name: String) -> String? {
        guard case .string(let text)? = object[name] else { return nil }
        return text
    }

    /// `aud`: a string or an array of strings (RFC 7519 §4.1.3).
    private static func audiences(_ object: EventJSON) -> [String]? {
        switch object["aud"] {
        case .string(let text)?: return [text]
        case .array(let items)?:
            return items.compactMap { if case .string(let text) = $0 { text } else { nil } }
        default: return nil
        }
    }

    /// A NumericDate written as a whole number of seconds in 0 … year 9999; anything else (a string, a fraction, an
    /// exponent, a number out of range) is nil, never a trap.
    static func time(_ object: EventJSON, _ name: String) -> Int64? {
        guard case .number(let text)? = object[name], text.utf8.count <= 19,
            text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let value = Int64(text), value <= latestTime
        else { return nil }
        return value
    }
}
