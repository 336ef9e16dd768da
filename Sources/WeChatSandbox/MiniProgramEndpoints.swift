import Hummingbird
import Logging

extension WeChatEndpoint {
    /// `GET /sns/jscode2session`: a mini-program backend trades a `wx.login` code for the
    /// user's openid, session_key and (when bound to the open platform) unionid.
    static let jscode2session = WeChatEndpoint(path: "/sns/jscode2session", methods: [.get, .post]) {
        request,
        context,
        state in
        try await MiniProgramEndpoints.jscode2session(
            query: request.uri.queryParameters,
            state: state,
            logger: context.logger
        )
    }
}

/// The mini-program login APIs.
enum MiniProgramEndpoints {
    /// The success body. WeChat sends no errcode here, and labels it text/plain.
    struct SessionBody: Encodable {
        var session_key: String
        var openid: String
        var unionid: String?
    }

    static func jscode2session(
        query: Parameters,
        state: SandboxState,
        logger: Logger
    ) async throws -> Response {
        // The order of checks is WeChat's: presence, then the app's credentials, then the code.
        guard let appid = query.nonEmpty("appid") else { return try Reply.wechatError(41002, "appid missing") }
        guard let secret = query.nonEmpty("secret") else { return try Reply.wechatError(41004, "appsecret missing") }
        guard let code = query.nonEmpty("js_code") else { return try Reply.wechatError(41008, "missing code") }
        guard let app = await state.app(appid) else { return try Reply.wechatError(40013, "invalid appid") }
        guard app.secret == secret else { return try Reply.wechatError(40125, "invalid appsecret") }
        guard query.nonEmpty("grant_type") == "authorization_code" else {
            return try Reply.wechatError(40002, "invalid grant_type")
        }

        switch await state.redeem(code: code, appid: appid) {
        case .invalid, .expired:
            logger.debug("jscode2session refused a code", metadata: ["wechat.appid": "\(appid)"])
            return try Reply.wechatError(40029, "invalid code")
        case .alreadyUsed:
            logger.debug("jscode2session refused a used code", metadata: ["wechat.appid": "\(appid)"])
            return try Reply.wechatError(40163, "code been used")
        case .redeemed(let issued) where issued.scope != nil:
            logger.debug("jscode2session refused a web code", metadata: ["wechat.appid": "\(appid)"])
            return try Reply.wechatError(40029, "invalid code")
        case .redeemed(let issued):
            let sessionKey = TestUsers.randomSessionKey()
            await state.setSessionKey(sessionKey, appid: appid, openid: issued.openid)
            logger.debug(
                "jscode2session issued a session",
                metadata: ["wechat.appid": "\(appid)", "wechat.openid": "\(issued.openid)"]
            )
            return try Reply.json(
                SessionBody(session_key: sessionKey, openid: issued.openid, unionid: issued.unionid),
                contentType: "text/plain"
            )
        }
    }
}

extension Parameters {
    /// The parameter's value, or nil when it is absent or empty (WeChat treats both as missing).
    func nonEmpty(_ name: Substring) -> String? {
        guard let value = self[name], !value.isEmpty else { return nil }
        return String(value)
    }
}
