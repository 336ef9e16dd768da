import FunctionRuntime
import WXAuthStore
import WeChat

/// The body of a successful sign-in or refresh (CONTRACT §4).
public struct TokenResponse: Codable, Sendable, Equatable {
    public struct User: Codable, Sendable, Equatable {
        public var id: String
        public var openid: String
        public var unionid: String?
    }

    public var accessToken: String
    public var tokenType = "Bearer"
    public var expiresIn: Int64
    public var refreshToken: String
    public var refreshExpiresIn: Int64
    public var user: User

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case refreshToken = "refresh_token"
        case refreshExpiresIn = "refresh_expires_in"
        case user
    }

    /// A 200 that no cache may keep (RFC 6749 §5.1).
    public var response: FunctionResponse {
        .json(200, self, headers: ["cache-control": "no-store", "pragma": "no-cache"])
    }
}

extension Services {
    /// Signs an access token for a session and packs it with its refresh token.
    func tokenResponse(
        session: SessionRecord,
        refreshToken: Secret,
        now: Int64
    ) async throws(AuthError) -> TokenResponse {
        let accessToken = try tokens.issue(
            subject: session.user.id,
            session: session.familyId,
            clientId: session.appid,
            jti: Identifier.make("", random),
            now: now
        )
        return TokenResponse(
            accessToken: accessToken,
            expiresIn: tokens.ttl,
            refreshToken: refreshToken.revealed,
            refreshExpiresIn: config.refreshTTL,
            user: .init(id: session.user.id, openid: session.openid, unionid: session.user.unionid)
        )
    }
}
