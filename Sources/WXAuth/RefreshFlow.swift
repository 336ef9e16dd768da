import FunctionRuntime
import Logging
import WXAuthStore
import WeChat

/// `POST /refresh`: spends a refresh token and issues a new pair; a replayed token revokes its family.
public enum RefreshFlow {
    /// The cookie web sign-in sets (HttpOnly), accepted in place of a body field.
    public static let cookieName = "wxauth_refresh"

    public static func run(
        refreshToken: String,
        services: Services,
        logger: Logger
    ) async throws(AuthError) -> TokenResponse {
        guard RefreshToken.isWellFormed(refreshToken) else {
            throw .invalidGrant("the refresh token is unknown")
        }
        let presented = Secret(refreshToken)
        let next = RefreshToken.generate(services.random)
        let now = services.clock.nowSeconds
        let outcome: RotationOutcome
        do {
            outcome = try await services.store.rotateRefreshToken(
                presentedHash: RefreshToken.hash(presented),
                newHash: RefreshToken.hash(next),
                newExpiresAt: now + services.config.refreshTTL,
                now: now
            )
        } catch {
            logger.error("store refused the rotation", metadata: ["error": "\(error)"])
            throw .unavailable("the refresh could not be saved; try again", retryAfter: 1)
        }
        switch outcome {
        case .rotated(let session):
            logger.info("refreshed", metadata: ["user": "\(session.user.id)", "session": "\(session.familyId)"])
            return try await services.tokenResponse(session: session, refreshToken: next, now: now)
        case .unknown:
            throw .invalidGrant("the refresh token is unknown")
        case .expired:
            throw .invalidGrant("the refresh token has expired")
        case .revoked:
            throw .invalidGrant("the refresh token has been revoked")
        case .reused:
            logger.warning("refresh token reused; session revoked")
            InvocationMetrics.current?.add("RefreshReuseDetected")
            throw .invalidGrant("the refresh token was already used; the session has been revoked")
        }
    }
}
