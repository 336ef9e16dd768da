import FunctionRuntime
import Logging
import WXAuthStore
import WeChat

/// `GET /login?return_to=PATH[&scope=base|userinfo]`: the start of web sign-in, a 302 to WeChat.
///
/// Inside WeChat's browser (`MicroMessenger` in the User-Agent) with an official account configured, the
/// official account's authorisation page; elsewhere, with a website app configured, the QR-code page. The
/// browser gets the `wxauth_login` binding cookie the state commits to (``LoginBinding``); one it already
/// carries is kept, so two sign-ins started in one browser both stay valid.
public enum WebLogin {
    public static func start(
        query: [String: String],
        userAgent: String?,
        bindingCookie: String?,
        services: Services,
        logger: Logger
    ) async throws(AuthError) -> FunctionResponse {
        let config = services.config
        let scope: WebScope
        switch query["scope"] {
        case nil, "", "userinfo", "snsapi_userinfo": scope = .userinfo
        case "base", "snsapi_base": scope = .base
        default: throw .invalidRequest("scope must be base or userinfo")
        }
        let returnTo = try ReturnTo.validate(query["return_to"], allowList: config.returnTo)
        guard let publicURL = config.publicURL else {
            throw .misconfigured("WXAUTH_PUBLIC_URL must be set for web sign-in (it makes the redirect_uri)")
        }
        let redirectURI = (publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL) + "/callback"

        let inWeChat = userAgent?.contains("MicroMessenger") == true
        let app: AppCredentials
        let grantedScope: WebScope
        if inWeChat, let officialAccount = config.officialAccount {
            (app, grantedScope) = (officialAccount, scope)
        } else if let website = config.website {
            (app, grantedScope) = (website, .login)
        } else if config.officialAccount != nil {
            throw .invalidRequest(
                "sign-in with this site's WeChat official account works inside WeChat only; open the page in WeChat"
            )
        } else {
            throw .misconfigured(
                "web sign-in needs WECHAT_OA_APPID and WECHAT_OA_SECRET (inside WeChat) or WECHAT_WEB_APPID and WECHAT_WEB_SECRET (QR code)"
            )
        }

        let now = services.clock.nowSeconds
        let expiresAt = now + SignedState.lifetime
        let binding = LoginBinding.reuseOrMake(bindingCookie, random: services.random)
        let (state, id) = SignedState.make(expiresAt: expiresAt, binding: binding, services: services)
        do {
            try await services.store.createWebState(
                WebStateRecord(
                    id: id,
                    appid: app.appid,
                    scope: grantedScope.rawValue,
                    returnTo: returnTo,
                    expiresAt: expiresAt
                ),
                now: now
            )
        } catch {
            logger.error("store refused the sign-in state", metadata: ["error": "\(error)"])
            throw .unavailable("the sign-in could not be started; try again", retryAfter: 1)
        }
        let location: String
        do {
            location =
                grantedScope == .login
                ? try WebAuthorizeURL.qrConnect(
                    openBase: config.wechatOpenBase,
                    appid: app.appid,
                    redirectURI: redirectURI,
                    state: state
                )
                : try WebAuthorizeURL.officialAccount(
                    openBase: config.wechatOpenBase,
                    appid: app.appid,
                    redirectURI: redirectURI,
                    scope: grantedScope,
                    state: state
                )
        } catch {
            throw .misconfigured("the sign-in state could not be encoded")
        }
        logger.info("web sign-in started", metadata: ["appid": "\(app.appid)", "scope": "\(grantedScope)"])
        return FunctionResponse(
            statusCode: 302,
            headers: ["location": location, "cache-control": "no-store", "referrer-policy": "no-referrer"],
            cookies: [binding.setCookie],
            body: ""
        )
    }
}
