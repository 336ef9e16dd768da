import Logging
import WXAuthStore
import WeChat

/// Everything a flow uses, injected: configuration, storage, WeChat, time and randomness.
public struct Services: Sendable {
    public var config: Config
    public var store: any Store
    public var tokens: AccessTokens
    public var secretBox: SecretBox
    /// nil for functions that never call WeChat: their executables pass no transport and link no HTTP client.
    public var wechat: WeChatClient?
    public var clock: any AuthClock
    public var random: any RandomSource

    public init(
        config: Config,
        store: any Store,
        tokens: AccessTokens,
        wechat: WeChatClient?,
        clock: any AuthClock = SystemAuthClock(),
        random: any RandomSource = SystemRandomSource()
    ) {
        self.config = config
        self.store = store
        self.tokens = tokens
        self.secretBox = config.dataKeys.box(purpose: "wxauth/at-rest/v1")
        self.wechat = wechat
        self.clock = clock
        self.random = random
    }

    /// The production wiring for one function process: `weChatTransport` for the functions that call WeChat (nil
    /// for the others), `postgres` opens PostgreSQL stores, where linked.
    public static func live(
        config: Config,
        weChatTransport: (any WeChatTransport)?,
        postgres: PostgresStoreOpener?,
        logger: Logger
    ) async throws(AuthError) -> Services {
        let store: any Store
        do {
            store = try config.databaseURL.openStore(
                functionTimeout: config.functionTimeout,
                logger: logger,
                postgres: postgres
            )
        } catch {
            logger.error("cannot open the database", metadata: ["error": "\(error)"])
            throw .misconfigured("the database of WXAUTH_DATABASE_URL cannot be opened")
        }
        let tokens = AccessTokens(
            keys: config.signingKeys,
            issuer: config.issuer,
            audience: config.audience,
            ttl: config.accessTTL
        )
        let wechat = weChatTransport.map { WeChatClient(apiBase: config.wechatAPIBase, transport: $0, logger: logger) }
        return Services(config: config, store: store, tokens: tokens, wechat: wechat)
    }
}

extension AuthError {
    /// A function that calls WeChat, in an executable that passed no transport (see `Functions.definition`, whose
    /// overloads make it impossible for the shipped executables). The text names no HTTP client module: every
    /// function binary carries it, and LinkedModulesTests looks for those names in the binaries.
    static let noWeChatTransport = AuthError.misconfigured(
        "this function calls WeChat, but its executable was built without a WeChat transport (the WeChatHTTP "
            + "module's, passed to Functions.definition as weChatTransport)"
    )
}
