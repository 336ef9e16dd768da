import Logging
import WXAuthStore
import WeChat

/// What `POST /admin/introspect` says of a token (RFC 7662): all of it when active, only `active: false` else.
public struct Introspection: Encodable, Sendable, Equatable {
    public var active: Bool
    public var sub: String?
    public var clientId: String?
    public var sid: String?
    public var exp: Int64?
    public var iat: Int64?
    public var tokenType: String?

    static let inactive = Introspection(active: false)

    enum CodingKeys: String, CodingKey {
        case active, sub, sid, exp, iat
        case clientId = "client_id"
        case tokenType = "token_type"
    }
}

/// The team's own servers administering sign-ins (CONTRACT §4 `admin`): introspection and revoking a user.
public enum AdminFlow {
    /// RFC 7662: an access token (a JWT) or a refresh token. Expired, revoked, unknown and malformed tokens are
    /// all simply inactive: nothing more is said about them.
    public static func introspect(
        token: String,
        services: Services,
        logger: Logger
    ) async throws(AuthError) -> Introspection {
        guard token.utf8.count <= 4096 else { return .inactive }
        let now = services.clock.nowSeconds
        do {
            if token.utf8.contains(UInt8(ascii: ".")) {
                guard let claims = try? services.tokens.verify(token, now: now),
                    let session = try await services.store.session(familyId: claims.sid),
                    !session.revoked, session.user.id == claims.sub
                else { return .inactive }
                return Introspection(
                    active: true,
                    sub: claims.sub,
                    clientId: session.appid,
                    sid: claims.sid,
                    exp: claims.exp,
                    iat: claims.iat,
                    tokenType: "access_token"
                )
            }
            guard let record = try await services.store.refreshToken(hash: RefreshToken.hash(Secret(token))),
                !record.spent, record.expiresAt > now,
                let session = try await services.store.session(familyId: record.familyId), !session.revoked
            else { return .inactive }
            return Introspection(
                active: true,
                sub: session.user.id,
                clientId: session.appid,
                sid: record.familyId,
                exp: record.expiresAt,
                iat: record.issuedAt,
                tokenType: "refresh_token"
            )
        } catch {
            logger.error("store lookup failed", metadata: ["error": "\(error)"])
            throw .unavailable("the token could not be checked; try again", retryAfter: 1)
        }
    }

    /// Whom `POST /admin/revoke` names: our user id, or a WeChat identity.
    public enum Subject: Sendable, Equatable {
        case user(String)
        case identity(appid: String, openid: String)
    }

    /// Revokes every sign-in session of a user (e.g. a banned account); their access tokens are then refused
    /// by `userinfo` and introspection. Returns how many sessions were live.
    public static func revoke(_ subject: Subject, services: Services, logger: Logger) async throws(AuthError) -> Int {
        do {
            let userId: String?
            switch subject {
            case .user(let id): userId = id
            case .identity(let appid, let openid):
                userId = try await services.store.userId(appid: appid, openid: openid)
            }
            guard let userId else { return 0 }
            let revoked = try await services.store.revokeFamilies(userId: userId, now: services.clock.nowSeconds)
            logger.notice(
                "user's sessions revoked by an admin call",
                metadata: ["user": "\(userId)", "sessions": "\(revoked)"]
            )
            return revoked
        } catch {
            logger.error("store refused the revocation", metadata: ["error": "\(error)"])
            throw .unavailable("the sessions could not be revoked; try again", retryAfter: 1)
        }
    }
}
