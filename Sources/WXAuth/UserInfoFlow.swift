import FunctionRuntime
import Logging
import WXAuthStore
import WeChat

/// The OpenID-Connect-style claims `GET /userinfo` answers with.
public struct UserInfo: Encodable, Sendable, Equatable {
    public var sub: String
    public var openid: String
    public var unionid: String?
    public var nickname: String?
    public var picture: String?
    public var gender: Int?
    public var locale: String?
    public var phoneNumber: String?
    public var phoneNumberVerified: Bool?
    public var updatedAt: Int64

    enum CodingKeys: String, CodingKey {
        case sub, openid, unionid, nickname, picture, gender, locale
        case phoneNumber = "phone_number"
        case phoneNumberVerified = "phone_number_verified"
        case updatedAt = "updated_at"
    }

    init(session: SessionRecord) {
        let profile = session.user.profile
        sub = session.user.id
        openid = session.openid
        unionid = session.user.unionid
        nickname = profile.nickname
        picture = profile.picture
        gender = profile.gender
        locale = profile.language
        phoneNumber = profile.phoneNumber
        // WeChat only hands out numbers it has verified by SMS.
        phoneNumberVerified = profile.phoneNumber == nil ? nil : true
        updatedAt = session.user.updatedAt
    }
}

/// `GET /userinfo`: the profile of the user a valid, unrevoked access token names.
public enum UserInfoFlow {
    public static func run(bearer: String, services: Services, logger: Logger) async throws(AuthError) -> UserInfo {
        UserInfo(session: try await session(bearer: bearer, services: services, logger: logger))
    }

    /// `POST /userinfo`: decrypts later encrypted data (WeRun, share tickets, …) with the signed-in user's
    /// stored session_key; the watermark must name this app. Returns the plaintext JSON.
    public static func decrypt(
        bearer: String,
        encryptedData: String,
        iv: String,
        services: Services,
        logger: Logger
    ) async throws(AuthError) -> [UInt8] {
        let session = try await session(bearer: bearer, services: services, logger: logger)
        let sealed: [UInt8]?
        do {
            sealed = try await services.store.sealedSessionKey(appid: session.appid, openid: session.openid)
        } catch {
            logger.error("store lookup failed", metadata: ["error": "\(error)"])
            throw .unavailable("the session could not be checked; try again", retryAfter: 1)
        }
        guard let sealed, let sessionKey = try? services.secretBox.open(sealed) else {
            throw .invalidRequest("this sign-in has no session_key to decrypt with; sign in with wx.login again")
        }
        return try SharedUserData.decrypt(
            encryptedData: encryptedData,
            iv: iv,
            sessionKey: sessionKey,
            appid: session.appid,
            now: services.clock.nowSeconds
        ).json
    }

    /// The live session an access token names.
    static func session(bearer: String, services: Services, logger: Logger) async throws(AuthError) -> SessionRecord {
        let claims = try services.tokens.verify(bearer, now: services.clock.nowSeconds)
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
        return session
    }
}
