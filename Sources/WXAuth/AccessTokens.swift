import JWTKit
import WeChat
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The access token's claims (CONTRACT §5); times in whole seconds since the epoch.
public struct AccessClaims: JWTPayload, Equatable {
    public var iss: String
    public var aud: String
    public var sub: String
    public var iat: Int64
    public var exp: Int64
    public var jti: String
    /// The refresh-token family: the sign-in session this token belongs to.
    public var sid: String

    /// Claims are checked by ``AccessTokens/verify(_:now:)`` against the injected clock, not here.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Issues and verifies HS256 access tokens with jwt-kit; the algorithm is pinned on verification.
public struct AccessTokens: Sendable {
    private let keys: JWTKeyCollection
    public var issuer: String
    public var audience: String
    /// Lifetime of a new token, seconds.
    public var ttl: Int64
    /// Clock skew tolerated on `exp` and `iat`, seconds.
    public var leeway: Int64 = 30

    public init(secret: Secret, issuer: String, audience: String, ttl: Int64) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret.revealed), digestAlgorithm: .sha256)
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
    }

    /// A new signed token for the user's session.
    public func issue(subject: String, session: String, jti: String, now: Int64) async throws -> String {
        let claims = AccessClaims(iss: issuer, aud: audience, sub: subject, iat: now, exp: now + ttl, jti: jti, sid: session)
        return try await keys.sign(claims)
    }

    /// The claims of a valid token; every failure is `invalid_token`.
    public func verify(_ token: String, now: Int64) async throws(AuthError) -> AccessClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 4096, parts.count == 3 else { throw .invalidToken("the access token is malformed") }
        // jwt-kit picks the key without comparing the header's alg, so the pin is enforced here first.
        guard let headerBytes = Base64URL.decode(parts[0]),
            let header = try? JSONDecoder().decode(PinnedHeader.self, from: Data(headerBytes))
        else { throw .invalidToken("the access token is malformed") }
        guard header.alg == "HS256", header.crit == nil else {
            throw .invalidToken("the access token's algorithm is not accepted")
        }
        let claims: AccessClaims
        do {
            claims = try await keys.verify(token, as: AccessClaims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .invalidToken("the access token's signature is invalid")
        } catch {
            throw .invalidToken("the access token is malformed")
        }
        guard claims.iss == issuer, claims.aud == audience else {
            throw .invalidToken("the access token was not issued for this service")
        }
        guard claims.exp + leeway > now else { throw .invalidToken("the access token has expired") }
        guard claims.iat - leeway <= now else { throw .invalidToken("the access token is not valid yet") }
        return claims
    }

    private struct PinnedHeader: Decodable {
        var alg: String
        var crit: [String]?
    }
}
