import Logging
import WXAuthStore
import WeChat

/// The mini-program's app access token, shared by every instance through the Store.
///
/// It comes from `/cgi-bin/stable_token` (never `/cgi-bin/token`, whose every call invalidates the token other
/// instances hold). Stable tokens stay the same until their last five minutes, so the cached one is used until
/// then; one instance at a time, holding a lease in the Store, fetches the next while the others keep using
/// the current one. Instances with no usable token wait for the lease holder instead of calling WeChat too.
struct AppTokenProvider {
    var services: Services
    var app: AppCredentials
    var wechat: WeChatClient
    var logger: Logger

    /// Refresh this long before expiry: WeChat hands out a new stable token only in its last five minutes.
    static let refreshAhead: Int64 = 300
    /// How long a lease holder may take to fetch and save a token before another instance may try.
    static let leaseSeconds: Int64 = 15
    static let pollInterval: Duration = .milliseconds(50)

    /// A token to call WeChat with.
    func current(deadline: ContinuousClock.Instant) async throws(AuthError) -> Secret {
        let cached = try await load()
        if let cached, cached.expiresAt - services.clock.nowSeconds > Self.refreshAhead, let token = open(cached) {
            return token
        }
        return try await refresh(replacing: cached, force: false, deadline: deadline)
    }

    /// A new token after WeChat refused `rejected` (40001, 40014, 42001): fetched with `force_refresh`, once.
    func replacement(deadline: ContinuousClock.Instant) async throws(AuthError) -> Secret {
        try await refresh(replacing: try await load(), force: true, deadline: deadline)
    }

    private func refresh(
        replacing cached: CachedAppToken?,
        force: Bool,
        deadline: ContinuousClock.Instant
    )
        async throws(AuthError) -> Secret
    {
        let holder = Identifier.make("lease-", services.random)
        while true {
            let now = services.clock.nowSeconds
            let leased: Bool
            do {
                leased = try await services.store.acquireAppTokenLease(
                    appid: app.appid,
                    holder: holder,
                    until: now + Self.leaseSeconds,
                    now: now
                )
            } catch {
                throw storeUnavailable(error)
            }
            if leased {
                return try await fetchHoldingLease(replacing: cached, force: force, holder: holder, deadline: deadline)
            }
            // Someone else is fetching. A token that still works is good enough meanwhile.
            if !force, let cached, cached.expiresAt > now, let token = open(cached) { return token }
            if let latest = try await load(), latest != cached, latest.expiresAt > now, let token = open(latest) {
                return token
            }
            guard ContinuousClock.now + Self.pollInterval * 2 < deadline else {
                throw .unavailable("the WeChat app token is being refreshed; try again", retryAfter: 1)
            }
            try? await wechat.clock.sleep(for: Self.pollInterval)
        }
    }

    private func fetchHoldingLease(
        replacing cached: CachedAppToken?,
        force: Bool,
        holder: String,
        deadline: ContinuousClock.Instant
    ) async throws(AuthError) -> Secret {
        let result: Result<Secret, AuthError>
        do {
            result = .success(try await fetch(replacing: cached, force: force, deadline: deadline))
        } catch {
            result = .failure(error)
        }
        // Released before answering: a one-shot process exits right after, and a lapsing lease would make
        // the next instances wait for nothing.
        try? await services.store.releaseAppTokenLease(appid: app.appid, holder: holder)
        return try result.get()
    }

    private func fetch(
        replacing cached: CachedAppToken?,
        force: Bool,
        deadline: ContinuousClock.Instant
    )
        async throws(AuthError) -> Secret
    {
        let now = services.clock.nowSeconds
        // Another instance may have saved a fresh token while this one waited for the lease.
        if let latest = try await load(), latest != cached, latest.expiresAt - now > Self.refreshAhead,
            let token = open(latest)
        {
            return token
        }
        let fetched: AppAccessToken
        do {
            fetched = try await wechat.stableAccessToken(
                appid: app.appid,
                secret: app.secret,
                forceRefresh: force,
                deadline: deadline
            )
        } catch {
            logger.wechatRefused("stable_token refused", error)
            throw AuthError(error)
        }
        do {
            let sealed = try services.secretBox.seal(fetched.token)
            try await services.store.saveAppToken(
                appid: app.appid,
                token: CachedAppToken(sealedToken: sealed, expiresAt: now + Int64(fetched.expiresIn))
            )
        } catch {
            logger.error("could not cache the app token", metadata: ["error_type": "\(type(of: error))"])
        }
        logger.info("app token refreshed", metadata: ["forced": "\(force)", "expires_in": "\(fetched.expiresIn)"])
        return fetched.token
    }

    private func load() async throws(AuthError) -> CachedAppToken? {
        do {
            return try await services.store.appToken(appid: app.appid)
        } catch {
            throw storeUnavailable(error)
        }
    }

    private func open(_ cached: CachedAppToken) -> Secret? {
        try? services.secretBox.open(cached.sealedToken)
    }

    private func storeUnavailable(_ error: any Error) -> AuthError {
        logger.error("store failed", metadata: ["error": "\(error)"])
        return .unavailable("the store is unavailable; try again", retryAfter: 1)
    }

    /// The verified phone number behind a `getPhoneNumber` code of the user `openid` (WeChat refuses another
    /// user's code); one retry with a fresh token if WeChat says the cached one is no longer valid.
    func phoneNumber(
        code: String,
        openid: String,
        deadline: ContinuousClock.Instant
    ) async throws(AuthError) -> PhoneInfo {
        var token = try await current(deadline: deadline)
        for attempt in 1...2 {
            do {
                return try await wechat.userPhoneNumber(
                    appAccessToken: token,
                    code: code,
                    openid: openid,
                    deadline: deadline
                )
            } catch  where error.category == .appTokenInvalid && attempt == 1 {
                logger.notice("app token refused; fetching a fresh one", metadata: ["errcode": "\(error.errcode ?? 0)"])
                token = try await replacement(deadline: deadline)
            } catch  where error.category == .invalidCode {
                throw .invalidGrant(
                    "the phone number code is invalid, expired or already used",
                    wechatErrcode: error.errcode
                )
            } catch  where error.errcode == 40003 {
                throw .invalidGrant("the phone number code was issued to another user", wechatErrcode: error.errcode)
            } catch {
                throw AuthError(error)
            }
        }
        throw .unavailable("WeChat kept refusing the app token", retryAfter: 1)
    }
}
