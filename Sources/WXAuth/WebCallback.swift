import Crypto
import Encodings
import FunctionRuntime
import Logging
import WXAuthStore
import WeChat

/// `GET /callback?code&state`: the end of web sign-in.
///
/// The state is checked (signature and expiry, the browser's binding cookie, then bound to this code in the
/// store), the code exchanged, the profile fetched, the account linked by unionid, and the sign-in answered
/// as JSON or as a 302 back to `return_to` with the refresh cookie. The outcome is kept, sealed under a key
/// derived from the code (which is never stored), so a repeated callback with the same code and state
/// answers the same instead of sending WeChat a spent code (40163) — but only to the same client, in the
/// same representation, within ``repeatWindow`` seconds: a callback URL seen later by anyone else (history,
/// a shared link, a proxy log) gives nothing.
public enum WebCallback {
    /// How a repeat waits for the first callback of the same code to finish, at most.
    static let repeatWaitSteps = 20
    static let repeatWaitStep = Duration.milliseconds(150)
    /// How long after the first callback a repeat still gets its outcome, seconds.
    static let repeatWindow: Int64 = 60

    static func run(
        query: [String: String],
        acceptsJSON: Bool,
        client: CallbackClient,
        services: Services,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws(AuthError) -> FunctionResponse {
        guard let state = query["state"], !state.isEmpty else { throw .invalidState("state is missing") }
        let verified = try SignedState.verify(state, now: services.clock.nowSeconds, services: services)
        let bound = try client.isBound(to: verified)
        let id = verified.id
        guard let code = query["code"], !code.isEmpty else {
            // WeChat sends the user back with the state alone when they refuse.
            throw .accessDenied("the user did not authorise the sign-in")
        }
        guard code.utf8.count <= MiniProgramLogin.maxCodeLength, code.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalidRequest("code must be the code WeChat sent")
        }
        let codeHash = Array(SHA256.hash(data: Array(code.utf8)))
        let outcomeBox = services.config.dataKeys.box(purpose: "wxauth/callback/v1/" + code)

        var claim = try await claimState(id: id, codeHash: codeHash, services: services, logger: logger)
        for _ in 0..<repeatWaitSteps {
            guard case .repeated(_, nil) = claim else { break }
            try? await Task.sleep(for: repeatWaitStep)
            claim = try await claimState(id: id, codeHash: codeHash, services: services, logger: logger)
        }
        switch claim {
        case .unknown:
            throw .invalidState("the state is unknown or has expired; start the sign-in again")
        case .replayed:
            throw .invalidState("the state was already used")
        case .repeated(_, nil):
            throw .unavailable("this sign-in is still being completed; try again", retryAfter: 1)
        case .repeated(_, let sealed?):
            guard let outcome = try? CallbackOutcome.open(sealed, box: outcomeBox),
                outcome.answers(client, bound: bound, acceptsJSON: acceptsJSON, now: services.clock.nowSeconds)
            else {
                logger.notice("repeated callback refused: another client, representation or too late")
                throw .invalidState("the state was already used")
            }
            logger.info("repeated callback answered with the first one's outcome")
            return try outcome.response(acceptsJSON: acceptsJSON, services: services)
        case .claimed(let record):
            var outcome = CallbackOutcome(
                returnTo: record.returnTo,
                firstAt: services.clock.nowSeconds,
                json: acceptsJSON,
                bound: bound,
                client: Hex.encode(client.fingerprint)
            )
            do {
                outcome.tokens = try await signIn(
                    record,
                    code: code,
                    services: services,
                    deadline: deadline,
                    logger: logger
                )
            } catch  where error.status >= 500 {
                // Nothing final happened (or WeChat may not have seen the code): let a repeat try again.
                try? await services.store.releaseWebState(id: id)
                throw error
            } catch {
                outcome.error = .init(error)
            }
            do {
                try await services.store.completeWebState(id: id, sealedOutcome: try outcome.seal(box: outcomeBox))
            } catch {
                logger.warning("the callback's outcome could not be kept for repeats", metadata: ["error": "\(error)"])
            }
            return try outcome.response(acceptsJSON: acceptsJSON, services: services)
        }
    }

    private static func claimState(
        id: String,
        codeHash: [UInt8],
        services: Services,
        logger: Logger
    ) async throws(AuthError) -> WebStateClaim {
        do {
            return try await services.store.claimWebState(id: id, codeHash: codeHash, now: services.clock.nowSeconds)
        } catch {
            logger.error("store refused the state check", metadata: ["error": "\(error)"])
            throw .unavailable("the sign-in could not be checked; try again", retryAfter: 1)
        }
    }

    /// Exchanges the code and signs the user in; an error with status < 500 is final for this code.
    private static func signIn(
        _ record: WebStateRecord,
        code: String,
        services: Services,
        deadline: ContinuousClock.Instant,
        logger: Logger
    ) async throws(AuthError) -> TokenResponse {
        let config = services.config
        guard
            let app = [config.officialAccount, config.website].compactMap({ $0 }).first(where: {
                $0.appid == record.appid
            })
        else {
            throw .misconfigured(
                "the app this sign-in started with is no longer configured (WECHAT_OA_APPID / WECHAT_WEB_APPID)"
            )
        }
        guard let wechat = services.wechat else { throw .noWeChatTransport }
        let granted: WebAccessToken
        do {
            granted = try await wechat.exchangeWebCode(
                appid: app.appid,
                secret: app.secret,
                code: code,
                deadline: deadline
            )
        } catch {
            logger.wechatRefused("oauth2/access_token refused", error)
            throw AuthError(error)
        }
        guard !granted.isSnapshotUser else {
            logger.notice("snapshot-page account refused")
            throw .accessDenied("WeChat snapshot-page accounts cannot sign in; open the page in WeChat and authorise")
        }
        let now = services.clock.nowSeconds
        let earlier = try? await services.store.sealedWebTokens(appid: app.appid, openid: granted.openid)
            .flatMap { try WebTokenSet.open($0, box: services.secretBox) }
        let fetcher = WebProfileFetcher(
            app: app,
            openid: granted.openid,
            wechat: wechat,
            deadline: deadline,
            logger: logger
        )
        let (info, tokens) = await fetcher.profile(fresh: WebTokenSet(granted, now: now), earlier: earlier, now: now)

        let unionid = granted.unionid ?? info?.unionid
        let refreshToken = RefreshToken.generate(services.random)
        let signIn = SignInRecord(
            appid: app.appid,
            openid: granted.openid,
            unionid: unionid,
            sealedSessionKey: nil,
            newUserId: Identifier.make("u", services.random),
            familyId: Identifier.make("s", services.random),
            refreshTokenHash: RefreshToken.hash(refreshToken),
            refreshExpiresAt: now + config.refreshTTL,
            now: now
        )
        var user: UserRecord
        do {
            user = try await services.store.signIn(signIn)
            if let info {
                user = try await services.store.updateProfile(
                    userId: user.id,
                    profile: info.profile,
                    unionid: unionid,
                    now: now
                )
            }
            try await services.store.saveWebTokens(
                appid: app.appid,
                openid: granted.openid,
                sealed: try tokens.seal(box: services.secretBox)
            )
        } catch {
            logger.error("store refused the web sign-in", metadata: ["error": "\(error)"])
            throw .unavailable("the sign-in could not be saved; try again", retryAfter: 1)
        }
        logger.info("signed in on the web", metadata: ["user": "\(user.id)", "session": "\(signIn.familyId)"])
        InvocationMetrics.current?.add("SignIns")
        let session = SessionRecord(
            familyId: signIn.familyId,
            user: user,
            appid: app.appid,
            openid: granted.openid,
            revoked: false
        )
        return try await services.tokenResponse(session: session, refreshToken: refreshToken, now: now)
    }
}

/// What a callback answered, kept sealed for its repeats.
struct CallbackOutcome: Codable {
    struct StoredError: Codable {
        var status: Int
        var code: String
        var description: String
        var wechatErrcode: Int?

        init(_ error: AuthError) {
            status = error.status
            code = error.code
            description = error.description
            wechatErrcode = error.wechatErrcode
        }

        /// The refusal again; a pair no refusal has (never written) reads as a server error.
        var authError: AuthError {
            AuthError(status: status, code: code, description: description, wechatErrcode: wechatErrcode)
                ?? .serverError(description, wechatErrcode: wechatErrcode)
        }
    }

    var returnTo: String
    var tokens: TokenResponse?
    var error: StoredError?
    /// When the first callback ran, seconds since the epoch.
    var firstAt: Int64
    /// Whether it asked for JSON (else the 302 with the cookie).
    var json: Bool
    /// Whether it carried the binding cookie; a repeat must then carry it too.
    var bound: Bool
    /// Its source IP and User-Agent, hashed (hex): how a repeat without a binding is recognised.
    var client: String

    init(returnTo: String, firstAt: Int64, json: Bool, bound: Bool, client: String) {
        self.returnTo = returnTo
        self.firstAt = firstAt
        self.json = json
        self.bound = bound
        self.client = client
    }

    /// Whether a repeat gets this outcome: the same client, asking for the same representation, soon enough.
    func answers(_ repeatClient: CallbackClient, bound repeatBound: Bool, acceptsJSON: Bool, now: Int64) -> Bool {
        let (elapsed, overflow) = now.subtractingReportingOverflow(firstAt)
        guard !overflow, elapsed >= 0, elapsed <= WebCallback.repeatWindow, acceptsJSON == json else { return false }
        return bound
            ? repeatBound : ConstantTime.equals(Array(client.utf8), Array(Hex.encode(repeatClient.fingerprint).utf8))
    }

    func seal(box: SecretBox) throws -> [UInt8] {
        try box.seal(Secret(try JSONCoding.encodeString(self)))
    }

    static func open(_ sealed: [UInt8], box: SecretBox) throws -> CallbackOutcome {
        try JSONCoding.decode(CallbackOutcome.self, from: Array(try box.open(sealed).revealed.utf8))
    }

    /// The token body for `Accept: application/json`, else a 302 to `return_to` setting the refresh cookie.
    func response(acceptsJSON: Bool, services: Services) throws(AuthError) -> FunctionResponse {
        guard let tokens else { throw error?.authError ?? .misconfigured("the sign-in outcome was lost") }
        if acceptsJSON { return tokens.response }
        return FunctionResponse(
            statusCode: 302,
            headers: ["location": returnTo, "cache-control": "no-store", "referrer-policy": "no-referrer"],
            cookies: [RefreshCookie.set(tokens.refreshToken, maxAge: services.config.refreshTTL)],
            body: ""
        )
    }
}

/// Who brings a callback: what the binding check and repeated callbacks compare.
struct CallbackClient {
    /// The `wxauth_login` cookie, when the browser sent one.
    var bindingCookie: String?
    /// Inside WeChat's browser (`MicroMessenger`), whose cookies are not reliably kept.
    var inWeChat: Bool
    /// The source IP and User-Agent, hashed.
    var fingerprint: [UInt8]

    init(bindingCookie: String?, userAgent: String?, sourceIP: String?) {
        self.bindingCookie = bindingCookie.flatMap { $0.isEmpty ? nil : $0 }
        inWeChat = userAgent?.contains("MicroMessenger") == true
        let ip = sourceIP ?? ""
        // Length-prefixed, so no split of one text into the two parts collides with another.
        fingerprint = Array(SHA256.hash(data: Array("\(ip.utf8.count):\(ip)\(userAgent ?? "")".utf8)))
    }

    init(_ request: FunctionRequest) {
        self.init(
            bindingCookie: request.cookies[LoginBinding.cookieName],
            userAgent: request.header("user-agent"),
            sourceIP: request.sourceIP
        )
    }

    /// Whether this browser holds the state's binding; `false` inside WeChat without a cookie, where the
    /// state alone is enough. A missing cookie elsewhere, or a different one anywhere, is refused.
    func isBound(to state: SignedState.Verified) throws(AuthError) -> Bool {
        if let bindingCookie {
            guard LoginBinding.matches(bindingCookie, bindingHash: state.bindingHash) else {
                throw .invalidState("this sign-in was started in another browser; start it again here")
            }
            return true
        }
        guard inWeChat else {
            throw .invalidState("this browser did not start the sign-in (no wxauth_login cookie); start it again here")
        }
        return false
    }
}

/// The refresh token as a browser keeps it: out of JavaScript's reach, sent back only to this site.
public enum RefreshCookie {
    /// `Set-Cookie` for a refresh token.
    public static func set(_ token: String, maxAge: Int64) -> String {
        "\(RefreshFlow.cookieName)=\(token); Path=/; Max-Age=\(maxAge); HttpOnly; Secure; SameSite=Lax"
    }

    /// `Set-Cookie` that removes it.
    public static let cleared = "\(RefreshFlow.cookieName)=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
}
