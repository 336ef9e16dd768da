import FunctionRuntime
import Logging
import WXAuthStore
import WeChat

/// The HTTP face of each function: method check, body parsing, flow, response. `main.swift` files call these.
public enum Functions {
    /// `login`: `POST /login` (mini-program) and `GET /login` (web sign-in start).
    public static func login(_ provider: ServiceProvider) -> FunctionHandler {
        { request, context in
            do throws(AuthError) {
                switch request.method {
                case "POST":
                    let fields = try RequestFields(request)
                    let code = try fields.required("code")
                    let shared = SharedUserData(
                        encryptedData: try fields.optional("encryptedData"),
                        iv: try fields.optional("iv"),
                        rawData: try fields.optional("rawData"),
                        signature: try fields.optional("signature"),
                        phoneCode: try fields.optional("phoneCode")
                    )
                    try shared.validate()
                    let services = try await provider.services(logger: context.logger)
                    return try await MiniProgramLogin.run(
                        code: code,
                        shared: shared,
                        services: services,
                        deadline: context.deadline,
                        logger: context.logger
                    ).response
                case "GET":
                    let services = try await provider.services(logger: context.logger)
                    return try await WebLogin.start(
                        query: request.query,
                        userAgent: request.header("user-agent"),
                        bindingCookie: request.cookies[LoginBinding.cookieName],
                        services: services,
                        logger: context.logger
                    )
                default:
                    throw .methodNotAllowed(request.method, allowed: ["GET", "POST"])
                }
            } catch {
                return error.response
            }
        }
    }

    /// `callback`: `GET /callback` of web OAuth sign-in.
    public static func callback(_ provider: ServiceProvider) -> FunctionHandler {
        { request, context in
            let accept = request.header("accept") ?? ""
            do throws(AuthError) {
                guard request.method == "GET" else { throw .methodNotAllowed(request.method, allowed: ["GET"]) }
                let services = try await provider.services(logger: context.logger)
                return try await WebCallback.run(
                    query: request.query,
                    acceptsJSON: accept.contains("application/json"),
                    client: CallbackClient(request),
                    services: services,
                    deadline: context.deadline,
                    logger: context.logger
                )
            } catch {
                // A browser that followed WeChat's redirect gets a page, not JSON; scripts still get JSON.
                return accept.contains("text/html") && !accept.contains("application/json")
                    ? ErrorPage.response(for: error) : error.response
            }
        }
    }

    /// `refresh`: `POST /refresh` with `refresh_token` in the body or the refresh cookie.
    public static func refresh(_ provider: ServiceProvider) -> FunctionHandler {
        { request, context in
            do throws(AuthError) {
                guard request.method == "POST" else { throw .methodNotAllowed(request.method, allowed: ["POST"]) }
                let (token, fromCookie) = try refreshToken(of: request)
                let services = try await provider.services(logger: context.logger)
                let tokens = try await RefreshFlow.run(refreshToken: token, services: services, logger: context.logger)
                var response = tokens.response
                // A browser keeps its refresh token in the cookie: rotate the cookie with it.
                if fromCookie {
                    response.cookies = [RefreshCookie.set(tokens.refreshToken, maxAge: services.config.refreshTTL)]
                }
                return response
            } catch {
                return error.response
            }
        }
    }

    /// `logout`: `POST /logout` with the refresh token in the body or the cookie: the sign-in is revoked.
    public static func logout(_ provider: ServiceProvider) -> FunctionHandler {
        { request, context in
            do throws(AuthError) {
                guard request.method == "POST" else { throw .methodNotAllowed(request.method, allowed: ["POST"]) }
                let (token, _) = try refreshToken(of: request)
                let services = try await provider.services(logger: context.logger)
                try await LogoutFlow.run(refreshToken: token, services: services, logger: context.logger)
                return FunctionResponse(
                    statusCode: 204,
                    headers: ["cache-control": "no-store"],
                    cookies: [RefreshCookie.cleared]
                )
            } catch {
                var response = error.response
                response.cookies = [RefreshCookie.cleared]
                return response
            }
        }
    }

    /// The refresh token from the JSON body's `refresh_token` or the refresh cookie, and whether it was the cookie.
    static func refreshToken(of request: FunctionRequest) throws(AuthError) -> (String, fromCookie: Bool) {
        let fields = try RequestFields(request)
        if let token = try fields.optional("refresh_token") { return (token, false) }
        if let token = request.cookies[RefreshFlow.cookieName], !token.isEmpty { return (token, true) }
        throw .invalidRequest("refresh_token is required (in the body or the \(RefreshFlow.cookieName) cookie)")
    }

    /// `userinfo`: `GET /userinfo` with `Authorization: Bearer`; `POST` decrypts later encrypted data.
    public static func userinfo(_ provider: ServiceProvider) -> FunctionHandler {
        { request, context in
            do throws(AuthError) {
                guard request.method == "GET" || request.method == "POST" else {
                    throw .methodNotAllowed(request.method, allowed: ["GET", "POST"])
                }
                guard let bearer = request.bearerToken else {
                    throw .invalidToken(
                        request.header("authorization") == nil
                            ? "a Bearer access token is required"
                            : "the Authorization header must be 'Bearer <access_token>'"
                    )
                }
                if request.method == "POST" {
                    let fields = try RequestFields(request)
                    let encryptedData = try fields.required("encryptedData")
                    let iv = try fields.required("iv")
                    let services = try await provider.services(logger: context.logger)
                    let plaintext = try await UserInfoFlow.decrypt(
                        bearer: bearer,
                        encryptedData: encryptedData,
                        iv: iv,
                        services: services,
                        logger: context.logger
                    )
                    return FunctionResponse(
                        statusCode: 200,
                        headers: ["content-type": "application/json", "cache-control": "no-store"],
                        body: String(decoding: plaintext, as: UTF8.self)
                    )
                }
                let services = try await provider.services(logger: context.logger)
                let info = try await UserInfoFlow.run(bearer: bearer, services: services, logger: context.logger)
                return .json(200, info, headers: ["cache-control": "no-store"])
            } catch {
                return error.response
            }
        }
    }
}

extension Functions {
    /// `admin`: `POST /admin/introspect` and `POST /admin/revoke` for the team's own servers, each request signed
    /// per CONTRACT §9 with a key of `WXAUTH_ADMIN_KEYS` (without it, every request is refused).
    static func admin(_ provider: ServiceProvider, keys: Result<AdminKeys?, AuthError>) -> FunctionHandler {
        { request, context in
            do throws(AuthError) {
                guard request.method == "POST" else { throw .methodNotAllowed(request.method, allowed: ["POST"]) }
                guard let keys = try keys.get() else {
                    throw .invalidClient("the admin API is off: set \(AdminKeys.settingName) to a JWK Set of oct keys")
                }
                let services = try await provider.services(logger: context.logger)
                let now = services.clock.nowSeconds
                let signed: (keyId: String, nonce: String, nonceExpiresAt: Int64)
                switch SignedRequest.verify(request, keys: keys, now: now) {
                case .success(let verified): signed = verified
                case .failure(let refusal):
                    context.logger.warning("admin request refused", metadata: ["reason": "\(refusal.rawValue)"])
                    throw .invalidClient("the request is not signed as CONTRACT §9 requires: \(refusal.rawValue)")
                }
                let fresh: Bool
                do {
                    fresh = try await services.store.recordNonce(
                        signed.nonce,
                        keyId: signed.keyId,
                        expiresAt: signed.nonceExpiresAt,
                        now: now
                    )
                } catch {
                    context.logger.error("store refused the nonce", metadata: ["error": "\(error)"])
                    throw .unavailable("the request could not be checked; try again", retryAfter: 1)
                }
                guard fresh else {
                    context.logger.warning("admin request refused", metadata: ["reason": "nonce already used"])
                    throw .invalidClient("the request is not signed as CONTRACT §9 requires: nonce already used")
                }
                let fields = try RequestFields(request)
                if request.path.hasSuffix("/admin/introspect") {
                    let introspection = try await AdminFlow.introspect(
                        token: try fields.required("token"),
                        services: services,
                        logger: context.logger
                    )
                    return .json(200, introspection, headers: ["cache-control": "no-store"])
                }
                if request.path.hasSuffix("/admin/revoke") {
                    let subject: AdminFlow.Subject
                    if let sub = try fields.optional("sub") {
                        subject = .user(sub)
                    } else if let openid = try fields.optional("openid"), let appid = try fields.optional("appid") {
                        subject = .identity(appid: appid, openid: openid)
                    } else {
                        throw .invalidRequest("name the user: {\"sub\"} or {\"openid\", \"appid\"}")
                    }
                    let revoked = try await AdminFlow.revoke(subject, services: services, logger: context.logger)
                    return .json(200, ["revoked_sessions": revoked], headers: ["cache-control": "no-store"])
                }
                throw .notFound("no such admin call: POST /admin/introspect or /admin/revoke")
            } catch {
                return error.response
            }
        }
    }

    /// `WXAUTH_ADMIN_KEYS` (or its `_FILE`), parsed once per process: nil when unset.
    static func adminKeys(environment: [String: String]) -> Result<AdminKeys?, AuthError> {
        do throws(AuthError) {
            let text: String?
            do {
                text = try EnvironmentReader(environment: environment).value(AdminKeys.settingName)
            } catch {
                throw .misconfigured(error.description)
            }
            return .success(try text.map { text throws(AuthError) in try AdminKeys(jwkSet: text) })
        } catch {
            return .failure(error)
        }
    }
}

extension Functions {
    /// The functions this package builds, by executable name.
    public enum Name: String, Sendable, CaseIterable {
        case login, callback, refresh, userinfo, logout, jwks, admin

        /// Only `login` and `callback` call WeChat; the others never pay for an HTTP client (see ``WithoutWeChat``).
        var needsWeChat: Bool { self == .login || self == .callback }
    }

    /// The functions that call no WeChat endpoint. Their ``definition(_:environment:postgres:)``
    /// takes no WeChat transport, so their executables link no HTTP client (no AsyncHTTPClient, NIO sockets or TLS).
    public enum WithoutWeChat: Sendable, CaseIterable {
        case refresh, userinfo, logout, jwks, admin

        var name: Name {
            switch self {
            case .refresh: .refresh
            case .userinfo: .userinfo
            case .logout: .logout
            case .jwks: .jwks
            case .admin: .admin
            }
        }
    }

    /// What `main.swift` runs: the function's handler over services built from the environment, built on
    /// first use in a one-shot process and up front (reporting bad configuration) in a warm one.
    ///
    /// This overload serves every function, and is the one `login` and `callback` must use: they call WeChat
    /// through `weChatTransport`, so only the executables that pass one link an HTTP client. A function that calls
    /// no WeChat endpoint ignores it: an executable that runs any function chosen at run time passes one.
    ///
    /// `postgres` opens PostgreSQL stores (`PostgresStore.opener` of WXAuthPostgres, which every executable links).
    public static func definition(
        _ name: Name,
        environment: [String: String],
        weChatTransport: any WeChatTransport,
        postgres: PostgresStoreOpener? = nil
    ) -> FunctionDefinition {
        build(name, environment: environment, weChatTransport: weChatTransport, postgres: postgres)
    }

    /// What `main.swift` of a function that calls no WeChat endpoint runs: as the overload above, without a WeChat
    /// transport. `login` and `callback` are not among ``WithoutWeChat``, so they cannot be built without one.
    public static func definition(
        _ name: WithoutWeChat,
        environment: [String: String],
        postgres: PostgresStoreOpener? = nil
    ) -> FunctionDefinition {
        build(name.name, environment: environment, weChatTransport: nil, postgres: postgres)
    }

    /// The definition; a function that calls WeChat given no transport (which the overloads above rule out)
    /// answers every such call with a 500 naming the cause (``AuthError/noWeChatTransport``), never a crash.
    private static func build(
        _ name: Name,
        environment: [String: String],
        weChatTransport: (any WeChatTransport)?,
        postgres: PostgresStoreOpener?
    ) -> FunctionDefinition {
        let provider = ServiceProvider(
            environment: environment,
            weChatTransport: name.needsWeChat ? weChatTransport : nil,
            postgres: postgres
        )
        let handler: FunctionHandler
        switch name {
        case .login: handler = login(provider)
        case .callback: handler = callback(provider)
        case .refresh: handler = refresh(provider)
        case .userinfo: handler = userinfo(provider)
        case .logout: handler = logout(provider)
        case .admin: handler = admin(provider, keys: adminKeys(environment: environment))
        case .jwks:
            var definition = jwksDefinition(environment: environment)
            definition.handler = observed(definition.handler, provider: provider, callsWeChat: false)
            return definition
        }
        return FunctionDefinition(handler: observed(handler, provider: provider, callsWeChat: name.needsWeChat)) {
            logger in
            _ = try await provider.services(logger: logger)
        }
    }

    /// The handler with CONTRACT §8's WeChat metrics (zero when nothing was called, so every function's
    /// dashboard has them) and, for the functions that call WeChat, the circuit breaker shared through the store.
    private static func observed(
        _ handler: @escaping FunctionHandler,
        provider: ServiceProvider,
        callsWeChat: Bool
    ) -> FunctionHandler {
        { request, context in
            let metrics = InvocationMetrics.current
            metrics?.add("WeChatCalls", 0)
            metrics?.add("WeChatLatency", 0, unit: .milliseconds)
            metrics?.add("WeChatErrors", 0)
            guard callsWeChat else { return try await handler(request, context) }
            let observer = WeChatGuard(provider: provider, logger: context.logger)
            return try await WeChatCalls.$observer.withValue(observer) { try await handler(request, context) }
        }
    }
}
