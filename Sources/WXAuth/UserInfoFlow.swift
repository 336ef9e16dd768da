import FunctionRuntime
import Logging
import WXAuthStore

/// The OpenID-Connect-style claims `GET /userinfo` answers with.
public struct UserInfo: Encodable, Sendable, Equatable {
    public var sub: String
    public var openid: String
    public var unionid: String?
    public var updatedAt: Int64

    enum CodingKeys: String, CodingKey {
        case sub, openid, unionid
        case updatedAt = "updated_at"
    }
}

/// `GET /userinfo`: the profile of the user a valid, unrevoked access token names.
public enum UserInfoFlow {
    public static func run(bearer: String, services: Services, logger: Logger) async throws(AuthError) -> UserInfo {
        let claims = try await services.tokens.verify(bearer, now: services.clock.nowSeconds)
        let session: SessionRecord?
        do {
            session = try await services.store.session(familyId: claims.sid)
        } catch {
            logger.error("store lookup failed", metadata: ["error": "\(error)"])
            throw .unavailable("the session could not be checked; try again", retryAfter: 1)
        }
        guard let session, session.user.id == claims.sub else {
            throw .invalidToken("the access token's session does not exist")
        }
        guard !session.revoked else { throw .invalidToken("the access token's session has been revoked") }
        return UserInfo(
            sub: session.user.id, openid: session.openid, unionid: session.user.unionid, updatedAt: session.user.updatedAt
        )
    }
}
