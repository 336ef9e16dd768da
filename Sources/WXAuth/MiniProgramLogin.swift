import FunctionRuntime
import Logging
import WXAuthStore
import WeChat

/// `POST /login` for mini-programs: a `wx.login` code → WeChat's jscode2session → our session.
public enum MiniProgramLogin {
    /// The longest code accepted; WeChat's are 32 characters.
    static let maxCodeLength = 128

    public static func run(
        code: String,
        shared: SharedUserData = SharedUserData(),
        services: Services,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws(AuthError) -> TokenResponse {
        guard code.utf8.count <= maxCodeLength,
            code.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw .invalidRequest("code must be the printable code from wx.login")
        }
        try shared.validate()
        let app = try services.config.requireMiniProgram()
        guard let wechat = services.wechat else { throw .noWeChatTransport }

        let session: CodeSession
        do {
            session = try await wechat.codeToSession(
                appid: app.appid,
                secret: app.secret,
                code: code,
                deadline: deadline
            )
        } catch {
            logger.wechatRefused("jscode2session refused", error)
            throw AuthError(error)
        }

        let now = services.clock.nowSeconds
        var (profile, sharedUnionid) = try shared.profile(sessionKey: session.sessionKey, appid: app.appid, now: now)
        if let phoneCode = shared.phoneCode {
            let provider = AppTokenProvider(services: services, app: app, wechat: wechat, logger: logger)
            let phone = try await provider.phoneNumber(code: phoneCode, openid: session.openid, deadline: deadline)
            profile.phoneNumber = phone.purePhoneNumber
            profile.phoneCountryCode = phone.countryCode
        }
        let refreshToken = RefreshToken.generate(services.random)
        let sealedKey: [UInt8]
        do {
            sealedKey = try services.secretBox.seal(session.sessionKey)
        } catch {
            throw .misconfigured("the session key could not be encrypted")
        }
        let record = SignInRecord(
            appid: app.appid,
            openid: session.openid,
            unionid: session.unionid ?? sharedUnionid,
            sealedSessionKey: sealedKey,
            newUserId: Identifier.make("u", services.random),
            familyId: Identifier.make("s", services.random),
            refreshTokenHash: RefreshToken.hash(refreshToken),
            refreshExpiresAt: now + services.config.refreshTTL,
            now: now
        )
        var user: UserRecord
        do {
            user = try await services.store.signIn(record)
            if profile != UserProfile() || (sharedUnionid != nil && user.unionid == nil) {
                user = try await services.store.updateProfile(
                    userId: user.id,
                    profile: profile,
                    unionid: sharedUnionid,
                    now: now
                )
            }
        } catch {
            logger.error("store refused the sign-in", metadata: ["error": "\(error)"])
            throw .unavailable("the sign-in could not be saved; try again", retryAfter: 1)
        }
        logger.info("signed in", metadata: ["user": "\(user.id)", "session": "\(record.familyId)"])
        InvocationMetrics.current?.add("SignIns")
        let sessionRecord = SessionRecord(
            familyId: record.familyId,
            user: user,
            appid: app.appid,
            openid: session.openid,
            revoked: false
        )
        return try await services.tokenResponse(session: sessionRecord, refreshToken: refreshToken, now: now)
    }
}
