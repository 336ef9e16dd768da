import FunctionRuntime

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A scope of WeChat's web authorisation (`scope=` of the authorize URL, `scope` of the token answer).
public struct WebScope: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The scope as WeChat spells it, e.g. `snsapi_base`.
    public var rawValue: String

    /// A scope by WeChat's name for it.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// Official account, silent: openid only; `/sns/userinfo` answers 48001.
    public static let base = WebScope(rawValue: "snsapi_base")
    /// Official account, with consent: openid, unionid and the profile from `/sns/userinfo`.
    public static let userinfo = WebScope(rawValue: "snsapi_userinfo")
    /// Website app (QR login): openid, unionid and the profile from `/sns/userinfo`.
    public static let login = WebScope(rawValue: "snsapi_login")

    public var description: String { rawValue }
}

/// A user's web access token, from `/sns/oauth2/access_token` or `/sns/oauth2/refresh_token`.
///
/// Both tokens are ``Secret``s: they never show in logs or error texts.
public struct WebAccessToken: Sendable {
    /// The user's access token, for `/sns/userinfo` and `/sns/auth`.
    public var accessToken: Secret
    /// Seconds the access token has left (7200 when fresh).
    public var expiresIn: Int
    /// The refresh token: 30 days from the first authorisation, never renewed (WECHAT.md A2).
    public var refreshToken: Secret
    /// The user's id in this app.
    public var openid: String
    /// The scopes granted, as WeChat lists them (comma-separated when several).
    public var scope: String
    /// The user's id across the open platform; absent for an official account's `snsapi_base`, and
    /// never sent by the refresh endpoint.
    public var unionid: String?
    /// `is_snapshotuser == 1`: a snapshot-page virtual account. No account may be created for it.
    public var isSnapshotUser: Bool

    /// A token as WeChat answered it.
    public init(
        accessToken: Secret,
        expiresIn: Int,
        refreshToken: Secret,
        openid: String,
        scope: String,
        unionid: String? = nil,
        isSnapshotUser: Bool = false
    ) {
        self.accessToken = accessToken
        self.expiresIn = expiresIn
        self.refreshToken = refreshToken
        self.openid = openid
        self.scope = scope
        self.unionid = unionid
        self.isSnapshotUser = isSnapshotUser
    }

    /// The granted scopes, one per entry of ``scope``.
    public var scopes: [WebScope] {
        scope.split(separator: ",").map { WebScope(rawValue: String($0.filter { $0 != " " })) }
    }

    /// Whether the token may read `/sns/userinfo` (`snsapi_userinfo` or `snsapi_login` was granted).
    public var allowsUserInfo: Bool {
        scopes.contains(.userinfo) || scopes.contains(.login)
    }
}

/// A user's profile from `/sns/userinfo`.
public struct WebUserInfo: Sendable, Hashable {
    /// The user's id in this app; always the openid that was asked for.
    public var openid: String
    /// The display name (WeChat may send `微信用户` when the user shares none).
    public var nickname: String
    /// 0 unknown, 1 male, 2 female (WeChat now mostly sends 0).
    public var sex: Int
    /// Where the user says they live, in the language asked for; often empty.
    public var province: String
    public var city: String
    public var country: String
    /// The avatar URL; nil when the user has none.
    public var headimgurl: String?
    /// Privileges such as `chinaunicom`; usually empty.
    public var privilege: [String]
    /// Present when the app is bound to an open-platform account.
    public var unionid: String?

    /// A profile; fields WeChat leaves out default to empty.
    public init(
        openid: String,
        nickname: String,
        sex: Int = 0,
        province: String = "",
        city: String = "",
        country: String = "",
        headimgurl: String? = nil,
        privilege: [String] = [],
        unionid: String? = nil
    ) {
        self.openid = openid
        self.nickname = nickname
        self.sex = sex
        self.province = province
        self.city = city
        self.country = country
        self.headimgurl = headimgurl
        self.privilege = privilege
        self.unionid = unionid
    }
}

extension WeChatClient {
    /// Exchanges the `code` of a web authorisation callback (`GET /sns/oauth2/access_token`).
    ///
    /// Works for official-account (`/connect/oauth2/authorize`) and website-app (`/connect/qrconnect`)
    /// codes alike. Codes are single-use, so like ``codeToSession(appid:secret:code:deadline:)`` this is
    /// retried only on busy (-1) or when the request surely never left. 40029, 40163 and 42003 come back as
    /// ``WeChatError/Category/invalidCode``; check ``WebAccessToken/isSnapshotUser`` before creating accounts.
    public func exchangeWebCode(
        appid: String,
        secret: Secret,
        code: String,
        deadline: ContinuousClock.Instant
    ) async throws(WeChatError) -> WebAccessToken {
        let endpoint = "/sns/oauth2/access_token"
        let query = [
            ("appid", appid), ("secret", secret.revealed), ("code", code), ("grant_type", "authorization_code"),
        ]
        let object = try await get(endpoint, query, idempotent: false, deadline: deadline)
        return try Self.webAccessToken(from: object, endpoint: endpoint)
    }

    /// Renews a user's web access token with its refresh token (`GET /sns/oauth2/refresh_token`; no secret).
    ///
    /// Before expiry WeChat extends the current access token, after it issues a new one; the refresh token
    /// itself is not renewed and dies 30 days after the authorisation (40030, 42002, 42007 come back as
    /// ``WeChatError/Category/refreshTokenInvalid``: the user must authorise again). Refreshing consumes
    /// nothing, so failures that may have reached WeChat are retried too.
    public func refreshWebToken(
        appid: String,
        refreshToken: Secret,
        deadline: ContinuousClock.Instant
    ) async throws(WeChatError) -> WebAccessToken {
        let endpoint = "/sns/oauth2/refresh_token"
        let query = [("appid", appid), ("grant_type", "refresh_token"), ("refresh_token", refreshToken.revealed)]
        let object = try await get(endpoint, query, idempotent: true, deadline: deadline)
        return try Self.webAccessToken(from: object, endpoint: endpoint)
    }

    /// Reads the user's profile (`GET /sns/userinfo`).
    ///
    /// Needs a `snsapi_userinfo` or `snsapi_login` token: a `snsapi_base` token gets 48001, reported as
    /// ``WeChatError/Category/insufficientScope``. An expired or invalid token (42001, 40001, 40014) is
    /// ``WeChatError/Category/userTokenInvalid``: refresh it with ``refreshWebToken(appid:refreshToken:deadline:)``
    /// and retry once.
    ///
    /// - Parameter lang: `zh_CN`, `zh_TW` or `en`: the language of province, city and country.
    public func webUserInfo(
        accessToken: Secret,
        openid: String,
        lang: String = "zh_CN",
        deadline: ContinuousClock.Instant
    ) async throws(WeChatError) -> WebUserInfo {
        let endpoint = "/sns/userinfo"
        let query = [("access_token", accessToken.revealed), ("openid", openid), ("lang", lang)]
        let object = try await get(endpoint, query, idempotent: true, deadline: deadline)
        guard let answered = object.string("openid"), !answered.isEmpty else {
            throw WeChatError(.invalidResponse("no openid"), endpoint: endpoint)
        }
        guard answered == openid else {
            throw WeChatError(.invalidResponse("the profile is another user's"), endpoint: endpoint)
        }
        return WebUserInfo(
            openid: answered,
            nickname: object.string("nickname") ?? "",
            sex: object.int("sex") ?? 0,
            province: object.string("province") ?? "",
            city: object.string("city") ?? "",
            country: object.string("country") ?? "",
            headimgurl: object.nonEmptyString("headimgurl"),
            privilege: object.strings("privilege"),
            unionid: object.nonEmptyString("unionid")
        )
    }

    /// Checks that a user's web access token is valid for `openid` (`GET /sns/auth`).
    ///
    /// Returns false when WeChat refuses the token or the openid (40001, 40014, 42001, 40003); throws for
    /// everything else (busy after retries, transport failures, unexpected errcodes).
    public func checkWebToken(
        accessToken: Secret,
        openid: String,
        deadline: ContinuousClock.Instant
    ) async throws(WeChatError) -> Bool {
        let query = [("access_token", accessToken.revealed), ("openid", openid)]
        do {
            _ = try await get("/sns/auth", query, idempotent: true, deadline: deadline)
            return true
        } catch  where error.category == .userTokenInvalid || error.category == .invalidParameter {
            return false
        }
    }

    /// `GET {apiBase}{endpoint}?{query}` through ``send(_:endpoint:idempotent:deadline:)``.
    private func get(
        _ endpoint: String,
        _ query: [(String, String)],
        idempotent: Bool,
        deadline: ContinuousClock.Instant
    ) async throws(WeChatError) -> JSONObject {
        let request = WeChatHTTPRequest(url: apiBase + endpoint + "?" + Self.query(query))
        return try await send(request, endpoint: endpoint, idempotent: idempotent, deadline: deadline)
    }

    /// Reads the common answer of the code-exchange and refresh endpoints.
    static func webAccessToken(from object: JSONObject, endpoint: String) throws(WeChatError) -> WebAccessToken {
        guard let accessToken = object.nonEmptyString("access_token") else {
            throw WeChatError(.invalidResponse("no access_token"), endpoint: endpoint)
        }
        guard let refreshToken = object.nonEmptyString("refresh_token") else {
            throw WeChatError(.invalidResponse("no refresh_token"), endpoint: endpoint)
        }
        guard let openid = object.nonEmptyString("openid") else {
            throw WeChatError(.invalidResponse("no openid"), endpoint: endpoint)
        }
        let expiresIn = try object.expiresIn(endpoint: endpoint)
        return WebAccessToken(
            accessToken: Secret(accessToken),
            expiresIn: expiresIn,
            refreshToken: Secret(refreshToken),
            openid: openid,
            scope: object.string("scope") ?? "",
            unionid: object.nonEmptyString("unionid"),
            isSnapshotUser: object.int("is_snapshotuser") == 1
        )
    }
}

// MARK: - Authorize URLs

/// Builds the URLs that send a browser to WeChat's authorisation pages.
///
/// Parameters go in the order WeChat documents (appid, redirect_uri, response_type, scope, state), values
/// percent-encoded with only RFC 3986's unreserved characters left bare, and the URL ends with the
/// `#wechat_redirect` fragment WeChat requires.
public enum WebAuthorizeURL {
    /// The official origin of the authorisation pages.
    public static let defaultOpenBase = "https://open.weixin.qq.com"

    /// A `state` WeChat would mangle or refuse: it allows at most 128 characters of `[A-Za-z0-9]`.
    public struct InvalidState: Error, Sendable, CustomStringConvertible {
        public var description: String { "state must be at most 128 characters of [A-Za-z0-9]" }
    }

    /// Whether WeChat passes `state` back unchanged: at most 128 characters of `[A-Za-z0-9]`.
    public static func isValidState(_ state: String) -> Bool {
        state.utf8.count <= 128
            && state.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            }
    }

    /// The official-account authorisation inside WeChat's browser:
    /// `{openBase}/connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state#wechat_redirect`.
    ///
    /// - Parameter scope: ``WebScope/base`` (silent, openid only) or ``WebScope/userinfo`` (consent, profile).
    public static func officialAccount(
        openBase: String = defaultOpenBase,
        appid: String,
        redirectURI: String,
        scope: WebScope,
        state: String
    ) throws(InvalidState) -> String {
        try build(
            openBase: openBase,
            path: "/connect/oauth2/authorize",
            appid: appid,
            redirectURI: redirectURI,
            scope: scope,
            state: state
        )
    }

    /// The website app's QR-code login page:
    /// `{openBase}/connect/qrconnect?appid&redirect_uri&response_type=code&scope=snsapi_login&state#wechat_redirect`.
    ///
    /// - Parameter lang: `cn` or `en` for the page's language; nil leaves it to WeChat.
    public static func qrConnect(
        openBase: String = defaultOpenBase,
        appid: String,
        redirectURI: String,
        state: String,
        lang: String? = nil
    ) throws(InvalidState) -> String {
        try build(
            openBase: openBase,
            path: "/connect/qrconnect",
            appid: appid,
            redirectURI: redirectURI,
            scope: .login,
            state: state,
            extra: lang.map { [("lang", $0)] } ?? []
        )
    }

    private static func build(
        openBase: String,
        path: String,
        appid: String,
        redirectURI: String,
        scope: WebScope,
        state: String,
        extra: [(String, String)] = []
    ) throws(InvalidState) -> String {
        guard isValidState(state) else { throw InvalidState() }
        let base = openBase.hasSuffix("/") ? String(openBase.dropLast()) : openBase
        let query = WeChatClient.query(
            [
                ("appid", appid), ("redirect_uri", redirectURI), ("response_type", "code"), ("scope", scope.rawValue),
                ("state", state),
            ] + extra
        )
        return base + path + "?" + query + "#wechat_redirect"
    }
}

// MARK: - Helpers

extension JSONObject {
    /// A string member, or nil when it is absent or empty (WeChat sends `""` for "none").
    func nonEmptyString(_ key: String) -> String? {
        string(key).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The string elements of an array member; empty when it is absent or not an array.
    func strings(_ key: String) -> [String] {
        guard case .array(let elements) = values[key] else { return [] }
        return elements.compactMap { element in
            if case .string(let text) = element { return text }
            return nil
        }
    }
}
