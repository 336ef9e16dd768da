import Logging
import WXAuthStore
import WeChat

/// `POST /logout`: revokes the refresh token's family — every refresh token of that sign-in, and the access
/// tokens whose `sid` it is (``UserInfoFlow`` refuses them).
public enum LogoutFlow {
    /// An unknown or malformed token is not an error (RFC 7009 §2.2): there is nothing left to revoke.
    public static func run(refreshToken: String, services: Services, logger: Logger) async throws(AuthError) {
        guard RefreshToken.isWellFormed(refreshToken) else { return }
        do {
            let hash = RefreshToken.hash(Secret(refreshToken))
            guard let family = try await services.store.familyId(forRefreshTokenHash: hash) else { return }
            try await services.store.revokeFamily(id: family, now: services.clock.nowSeconds)
            logger.info("signed out", metadata: ["session": "\(family)"])
        } catch {
            logger.error("store refused the sign-out", metadata: ["error": "\(error)"])
            throw .unavailable("the sign-out could not be saved; try again", retryAfter: 1)
        }
    }
}
