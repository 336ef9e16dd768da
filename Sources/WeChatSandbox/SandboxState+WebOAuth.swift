import Foundation

/// What a user granted an app through web authorisation; tokens carry it from code to profile.
struct WebGrant: Sendable {
    var appid: String
    var user: String
    var openid: String
    var unionid: String?
    var scope: String
    var snapshot: Bool
}

/// A user's web access token (`/sns/oauth2/access_token`, `/sns/oauth2/refresh_token`).
struct IssuedWebToken: Sendable {
    var token: String
    var grant: WebGrant
    var expiresAt: Date
}

/// A user's web refresh token: 30 days from the authorisation, never renewed.
struct IssuedWebRefreshToken: Sendable {
    var token: String
    var grant: WebGrant
    var expiresAt: Date
    /// The access token it last issued, which a refresh before expiry extends.
    var accessToken: String
}

/// How a web access token presented to `/sns/userinfo` or `/sns/auth` stands.
enum WebTokenCheck: Sendable {
    case live(IssuedWebToken)
    /// Past its 7200 s: 42001.
    case expired
    /// Never issued: 40001.
    case invalid
}

/// What `/sns/oauth2/refresh_token` decided.
enum WebRefreshOutcome: Sendable {
    case refreshed(access: IssuedWebToken, refresh: IssuedWebRefreshToken)
    /// Unknown, or another app's: 40030.
    case invalid
    /// Past its 30 days: 42002.
    case expired
}

/// Which scopes each kind of app may ask for, and how long its codes live.
enum WebAuthorization {
    /// The scopes an app of `kind` may be granted; empty for a mini-program.
    static func scopes(for kind: SandboxApp.Kind) -> [String] {
        switch kind {
        case .officialAccount: ["snsapi_base", "snsapi_userinfo"]
        case .website: ["snsapi_login"]
        case .miniProgram: []
        }
    }

    /// The scope asked for when none is named.
    static func defaultScope(for kind: SandboxApp.Kind) -> String? {
        switch kind {
        case .officialAccount: "snsapi_userinfo"
        case .website: "snsapi_login"
        case .miniProgram: nil
        }
    }

    /// Official-account codes live 5 minutes, website-app codes 10 (WECHAT.md A2).
    static func codeLifetime(for kind: SandboxApp.Kind) -> TimeInterval {
        kind == .website ? 600 : 300
    }

    /// Whether the grant carries a unionid: not for an official account's silent `snsapi_base`.
    static func revealsUnionid(kind: SandboxApp.Kind, scope: String) -> Bool {
        !(kind == .officialAccount && scope == "snsapi_base")
    }
}

extension SandboxState {
    /// Web access tokens live 7200 s; refresh tokens 30 days (WECHAT.md A2).
    static let webTokenLifetime: TimeInterval = 7200
    static let webRefreshLifetime: TimeInterval = 30 * 86400
    /// Expired access tokens are remembered this long, so they answer 42001 rather than 40001.
    static let webTokenRetention: TimeInterval = 86400

    // MARK: Codes

    /// Mints a web authorisation code as WeChat's authorize page would, or nil when `appid` is not an
    /// official account or website app, or may not be granted `scope`.
    ///
    /// A snapshot user gets a virtual openid of its own but the person's unionid, as real snapshot
    /// accounts do (WECHAT.md A5).
    func mintWebCode(appid: String, user: String, scope: String, snapshot: Bool) -> IssuedCode? {
        guard let app = self.app(appid), WebAuthorization.scopes(for: app.kind).contains(scope) else { return nil }
        return self.storeCode(
            appid: appid,
            user: user,
            openid: TestUsers.openid(appid: appid, user: snapshot ? TestUsers.snapshotAccount(of: user) : user),
            unionid: WebAuthorization.revealsUnionid(kind: app.kind, scope: scope)
                ? TestUsers.unionid(user: user) : nil,
            lifetime: WebAuthorization.codeLifetime(for: app.kind),
            scope: scope,
            snapshot: snapshot
        )
    }

    // MARK: Tokens

    /// Issues a fresh access and refresh token for a redeemed web code.
    func issueWebTokens(for code: IssuedCode, scope: String) -> (access: IssuedWebToken, refresh: IssuedWebRefreshToken)
    {
        let now = self.clock.now()
        self.forgetStaleWebTokens(now: now)
        let grant = WebGrant(
            appid: code.appid,
            user: code.user,
            openid: code.openid,
            unionid: code.unionid,
            scope: scope,
            snapshot: code.snapshot
        )
        let access = self.newWebToken(grant, now: now)
        let refresh = IssuedWebRefreshToken(
            token: SandboxTokens.opaque(prefix: "91_"),
            grant: grant,
            expiresAt: now.addingTimeInterval(Self.webRefreshLifetime),
            accessToken: access.token
        )
        self.webRefreshTokens[refresh.token] = refresh
        return (access, refresh)
    }

    /// Answers `/sns/oauth2/refresh_token`: before expiry the current access token is extended, after it
    /// a new one is issued; the refresh token stays as it is.
    func refreshWebToken(_ token: String, appid: String) -> WebRefreshOutcome {
        let now = self.clock.now()
        guard var refresh = self.webRefreshTokens[token], refresh.grant.appid == appid else { return .invalid }
        guard now < refresh.expiresAt else { return .expired }
        if var current = self.webTokens[refresh.accessToken], now < current.expiresAt {
            current.expiresAt = now.addingTimeInterval(Self.webTokenLifetime)
            self.webTokens[current.token] = current
            return .refreshed(access: current, refresh: refresh)
        }
        self.forgetStaleWebTokens(now: now)
        let access = self.newWebToken(refresh.grant, now: now)
        refresh.accessToken = access.token
        self.webRefreshTokens[token] = refresh
        return .refreshed(access: access, refresh: refresh)
    }

    /// Whose web access token `token` is, and whether WeChat would still accept it.
    func checkWebToken(_ token: String) -> WebTokenCheck {
        guard let issued = self.webTokens[token] else { return .invalid }
        return self.clock.now() < issued.expiresAt ? .live(issued) : .expired
    }

    private func newWebToken(_ grant: WebGrant, now: Date) -> IssuedWebToken {
        let token = IssuedWebToken(
            token: SandboxTokens.opaque(prefix: "91_"),
            grant: grant,
            expiresAt: now.addingTimeInterval(Self.webTokenLifetime)
        )
        self.webTokens[token.token] = token
        return token
    }

    private func forgetStaleWebTokens(now: Date) {
        self.webTokens = self.webTokens.filter { now.timeIntervalSince($0.value.expiresAt) <= Self.webTokenRetention }
        self.webRefreshTokens = self.webRefreshTokens.filter {
            now.timeIntervalSince($0.value.expiresAt) <= Self.webTokenRetention
        }
    }
}
