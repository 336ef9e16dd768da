import Foundation
import Hummingbird
import Logging

extension WeChatEndpoint {
    /// `GET /sns/oauth2/access_token`: a web authorisation code for the user's access and refresh tokens.
    static let webAccessToken = WeChatEndpoint(path: "/sns/oauth2/access_token", methods: [.get, .post]) {
        request,
        context,
        state in
        try await WebOAuthEndpoints.accessToken(
            query: request.uri.queryParameters,
            state: state,
            logger: context.logger
        )
    }

    /// `GET /sns/oauth2/refresh_token`: a new (or extended) access token for a refresh token; no secret.
    static let webRefreshToken = WeChatEndpoint(path: "/sns/oauth2/refresh_token", methods: [.get, .post]) {
        request,
        _,
        state in
        try await WebOAuthEndpoints.refreshToken(query: request.uri.queryParameters, state: state)
    }

    /// `GET /sns/auth`: whether a user's access token is valid for an openid.
    static let webAuth = WeChatEndpoint(path: "/sns/auth", methods: [.get, .post]) { request, _, state in
        try await WebOAuthEndpoints.auth(query: request.uri.queryParameters, state: state)
    }

    /// `GET /sns/userinfo`: the user's profile, for `snsapi_userinfo` and `snsapi_login` tokens.
    static let webUserInfo = WeChatEndpoint(path: "/sns/userinfo", methods: [.get, .post]) { request, _, state in
        try await WebOAuthEndpoints.userInfo(query: request.uri.queryParameters, state: state)
    }
}

/// The web OAuth APIs of official accounts and website apps.
enum WebOAuthEndpoints {
    /// WeChat labels these answers text/plain, as it does jscode2session's.
    static let contentType = "text/plain"

    struct TokenBody: Encodable {
        var access_token: String
        var expires_in: Int
        var refresh_token: String
        var openid: String
        var scope: String
        var is_snapshotuser: Int?
        var unionid: String?
    }

    struct ProfileBody: Encodable {
        var openid: String
        var nickname: String
        var sex: Int
        var province: String
        var city: String
        var country: String
        var headimgurl: String
        var privilege: [String]
        var unionid: String?
    }

    static func accessToken(query: Parameters, state: SandboxState, logger: Logger) async throws -> Response {
        // The order of checks follows jscode2session's: presence, the app's credentials, then the code.
        guard let appid = query.nonEmpty("appid") else { return try Reply.wechatError(41002, "appid missing") }
        guard let secret = query.nonEmpty("secret") else { return try Reply.wechatError(41004, "appsecret missing") }
        guard let code = query.nonEmpty("code") else { return try Reply.wechatError(41008, "missing code") }
        guard let app = await state.app(appid) else { return try Reply.wechatError(40013, "invalid appid") }
        guard app.secret == secret else { return try Reply.wechatError(40125, "invalid appsecret") }
        guard query.nonEmpty("grant_type") == "authorization_code" else {
            return try Reply.wechatError(40002, "invalid grant_type")
        }

        switch await state.redeem(code: code, appid: appid) {
        case .invalid:
            logger.debug("oauth2/access_token refused a code", metadata: ["wechat.appid": "\(appid)"])
            return try Reply.wechatError(40029, "invalid code")
        case .alreadyUsed:
            logger.debug("oauth2/access_token refused a used code", metadata: ["wechat.appid": "\(appid)"])
            return try Reply.wechatError(40163, "code been used")
        case .expired:
            return try Reply.wechatError(42003, "code expired")
        case .redeemed(let issued):
            // A mini-program code is not a web code, even for the right appid (WECHAT.md B2.3).
            guard let scope = issued.scope else { return try Reply.wechatError(40029, "invalid code") }
            let (access, refresh) = await state.issueWebTokens(for: issued, scope: scope)
            logger.debug(
                "oauth2/access_token issued tokens",
                metadata: ["wechat.appid": "\(appid)", "wechat.openid": "\(issued.openid)"]
            )
            return try Reply.json(
                TokenBody(
                    access_token: access.token,
                    expires_in: Int(SandboxState.webTokenLifetime),
                    refresh_token: refresh.token,
                    openid: issued.openid,
                    scope: scope,
                    is_snapshotuser: issued.snapshot ? 1 : nil,
                    unionid: issued.unionid
                ),
                contentType: contentType
            )
        }
    }

    static func refreshToken(query: Parameters, state: SandboxState) async throws -> Response {
        guard let appid = query.nonEmpty("appid") else { return try Reply.wechatError(41002, "appid missing") }
        guard let token = query.nonEmpty("refresh_token") else {
            return try Reply.wechatError(41003, "refresh_token missing")
        }
        guard await state.app(appid) != nil else { return try Reply.wechatError(40013, "invalid appid") }
        guard query.nonEmpty("grant_type") == "refresh_token" else {
            return try Reply.wechatError(40002, "invalid grant_type")
        }
        switch await state.refreshWebToken(token, appid: appid) {
        case .invalid: return try Reply.wechatError(40030, "invalid refresh_token")
        case .expired: return try Reply.wechatError(42002, "refresh_token timeout")
        case .refreshed(let access, let refresh):
            let expiresIn = access.expiresAt.timeIntervalSince(state.clock.now()).rounded(.down)
            return try Reply.json(
                TokenBody(
                    access_token: access.token,
                    expires_in: Int(expiresIn),
                    refresh_token: refresh.token,
                    openid: access.grant.openid,
                    scope: access.grant.scope
                ),
                contentType: contentType
            )
        }
    }

    static func auth(query: Parameters, state: SandboxState) async throws -> Response {
        switch await self.checkToken(query: query, state: state) {
        case .failure(let refusal): return try refusal.response()
        case .success: return try Reply.json(WeChatErrorBody(errcode: 0, errmsg: "ok"), contentType: contentType)
        }
    }

    static func userInfo(query: Parameters, state: SandboxState) async throws -> Response {
        let token: IssuedWebToken
        switch await self.checkToken(query: query, state: state) {
        case .failure(let refusal): return try refusal.response()
        case .success(let live): token = live
        }
        guard token.grant.scope != "snsapi_base" else { return try Reply.wechatError(48001, "api unauthorized") }
        let place = Place(lang: query.nonEmpty("lang"))
        return try Reply.json(
            ProfileBody(
                openid: token.grant.openid,
                nickname: token.grant.user,
                sex: 1,
                province: place.province,
                city: place.city,
                country: place.country,
                headimgurl: TestUsers.avatarURL(user: token.grant.user),
                privilege: [],
                unionid: TestUsers.unionid(user: token.grant.user)
            ),
            contentType: contentType
        )
    }

    /// A refused user token, as WeChat's errcode and errmsg.
    struct TokenRefusal: Error {
        var errcode: Int
        var errmsg: String

        func response() throws -> Response {
            try Reply.wechatError(self.errcode, self.errmsg)
        }
    }

    /// The live token named by `access_token`, if it belongs to `openid`.
    private static func checkToken(query: Parameters, state: SandboxState) async -> Result<IssuedWebToken, TokenRefusal>
    {
        guard let token = query.nonEmpty("access_token") else {
            return .failure(TokenRefusal(errcode: 41001, errmsg: "access_token missing"))
        }
        switch await state.checkWebToken(token) {
        case .invalid:
            return .failure(
                TokenRefusal(errcode: 40001, errmsg: "invalid credential, access_token is invalid or not latest")
            )
        case .expired:
            return .failure(TokenRefusal(errcode: 42001, errmsg: "access_token expired"))
        case .live(let issued):
            guard query.nonEmpty("openid") == issued.grant.openid else {
                return .failure(TokenRefusal(errcode: 40003, errmsg: "invalid openid"))
            }
            return .success(issued)
        }
    }

    /// Every test user lives in Guangzhou; `lang` picks the language of the names.
    struct Place {
        var country: String
        var province: String
        var city: String

        init(lang: String?) {
            switch lang {
            case "en": (country, province, city) = ("China", "Guangdong", "Guangzhou")
            case "zh_TW": (country, province, city) = ("中國", "廣東", "廣州")
            default: (country, province, city) = ("中国", "广东", "广州")
            }
        }
    }
}
