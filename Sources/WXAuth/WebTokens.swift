import FunctionRuntime
import Logging
import WXAuthStore
import WeChat

/// WeChat's web tokens for one identity, kept sealed at rest so a later profile fetch can use them.
struct WebTokenSet: Codable, Equatable {
    var accessToken: String
    /// Seconds since the epoch.
    var accessExpiresAt: Int64
    var refreshToken: String
    /// WeChat's refresh tokens live 30 days from the authorisation and are not renewed.
    var refreshExpiresAt: Int64
    var scope: String

    static let refreshLifetime: Int64 = 30 * 86_400

    init(_ granted: WebAccessToken, now: Int64) {
        accessToken = granted.accessToken.revealed
        accessExpiresAt = now + Int64(granted.expiresIn)
        refreshToken = granted.refreshToken.revealed
        refreshExpiresAt = now + Self.refreshLifetime
        scope = granted.scope
    }

    /// Whether `/sns/userinfo` accepts these tokens (a `snsapi_base` grant gets 48001).
    var allowsUserInfo: Bool {
        scope.split(separator: ",").contains { $0 == WebScope.userinfo.rawValue || $0 == WebScope.login.rawValue }
    }

    /// The same grant after `/sns/oauth2/refresh_token`.
    func refreshed(_ answer: WebAccessToken, now: Int64) -> WebTokenSet {
        var next = self
        next.accessToken = answer.accessToken.revealed
        next.accessExpiresAt = now + Int64(answer.expiresIn)
        next.refreshToken = answer.refreshToken.revealed
        if !answer.scope.isEmpty { next.scope = answer.scope }
        return next
    }

    func seal(box: SecretBox) throws -> [UInt8] {
        try box.seal(Secret(try JSONCoding.encodeString(self)))
    }

    static func open(_ sealed: [UInt8], box: SecretBox) throws -> WebTokenSet {
        try JSONCoding.decode(WebTokenSet.self, from: Array(try box.open(sealed).revealed.utf8))
    }
}

/// Reads a web user's profile with the tokens at hand: the new grant's when its scope allows, else an
/// earlier `snsapi_userinfo` grant's, refreshed with `/sns/oauth2/refresh_token` when expired or refused
/// as expired (42001/40001), once.
struct WebProfileFetcher {
    var app: AppCredentials
    var openid: String
    var wechat: WeChatClient
    var deadline: ContinuousClock.Instant
    var logger: Logger

    /// The profile (nil when no grant allows it or WeChat refused) and the tokens to keep.
    func profile(fresh: WebTokenSet, earlier: WebTokenSet?, now: Int64) async -> (WebUserInfo?, WebTokenSet) {
        var tokens: WebTokenSet
        if fresh.allowsUserInfo {
            tokens = fresh
        } else if let earlier, earlier.allowsUserInfo, earlier.refreshExpiresAt > now {
            tokens = earlier
        } else {
            return (nil, fresh)
        }
        var refreshedOnce = false
        if tokens.accessExpiresAt <= now + 60 {
            guard let renewed = await refresh(tokens, now: now) else { return (nil, fresh) }
            tokens = renewed
            refreshedOnce = true
        }
        while true {
            do {
                let info = try await wechat.webUserInfo(
                    accessToken: Secret(tokens.accessToken),
                    openid: openid,
                    deadline: deadline
                )
                return (info, tokens)
            } catch  where error.category == .userTokenInvalid && !refreshedOnce {
                guard let renewed = await refresh(tokens, now: now) else { return (nil, fresh) }
                tokens = renewed
                refreshedOnce = true
            } catch {
                logger.wechatRefused("sns/userinfo refused; signing in without the profile", error)
                return (nil, tokens)
            }
        }
    }

    private func refresh(_ tokens: WebTokenSet, now: Int64) async -> WebTokenSet? {
        do {
            let answer = try await wechat.refreshWebToken(
                appid: app.appid,
                refreshToken: Secret(tokens.refreshToken),
                deadline: deadline
            )
            logger.info("refreshed the WeChat web token")
            return tokens.refreshed(answer, now: now)
        } catch {
            logger.wechatRefused("sns/oauth2/refresh_token refused", error)
            return nil
        }
    }
}

extension WebUserInfo {
    /// The profile fields wxauth keeps, from `/sns/userinfo`.
    var profile: UserProfile {
        UserProfile(
            nickname: nickname.isEmpty ? nil : nickname,
            picture: headimgurl,
            gender: sex,
            city: city.isEmpty ? nil : city,
            province: province.isEmpty ? nil : province,
            country: country.isEmpty ? nil : country
        )
    }
}
