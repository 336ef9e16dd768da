import Foundation
import Logging
import Synchronization
import TestSupport
import WXAuth
import WXAuthStore
import WeChat

/// A clock the test moves by hand.
final class ManualClock: AuthClock {
    private let value: Mutex<Int64>
    init(_ start: Int64 = 1_700_000_000) { value = Mutex(start) }
    var nowSeconds: Int64 { value.withLock { $0 } }
    func advance(_ seconds: Int64) { value.withLock { $0 += seconds } }
}

/// A WeChat clock whose sleeps return at once.
struct InstantWeChatClock: WeChatClock {
    var now: ContinuousClock.Instant { .now }
    func sleep(for duration: Duration) async throws {}
}

enum Fixture {
    static let jwtSecret = "test-jwt-secret-that-is-long-enough-0123456789"
    static let appSecret = "mini-app-secret-value"

    static func config() -> Config {
        var config = Config(jwtSecret: Secret(jwtSecret))
        config.miniProgram = AppCredentials(appid: "wxmini", secret: Secret(appSecret))
        return config
    }

    static func services(
        _ wechat: ScriptedWeChat,
        clock: ManualClock = ManualClock(),
        store: any Store = MemoryStore(),
        config: Config = config()
    ) async -> Services {
        let tokens = AccessTokens(
            keys: config.signingKeys,
            issuer: config.issuer,
            audience: config.audience,
            ttl: config.accessTTL
        )
        let client = WeChatClient(
            apiBase: "http://wechat.test",
            transport: wechat,
            clock: InstantWeChatClock(),
            retryPolicy: RetryPolicy(jitter: { _ in .zero }),
            logger: Logger(label: "test")
        )
        return Services(config: config, store: store, tokens: tokens, wechat: client, clock: clock)
    }

    static let session = #"{"session_key":"tiihtNczf5v6AKRyjwEUhQ==","openid":"oAlice","unionid":"uAlice"}"#
}

extension Fixture {
    /// Signs in through `POST /login`'s flow with code "c" (and `shared`), as most flow tests do.
    static func signIn(
        _ services: Services,
        shared: SharedUserData = SharedUserData()
    ) async throws(AuthError) -> TokenResponse {
        try await MiniProgramLogin.run(
            code: "c",
            shared: shared,
            services: services,
            deadline: .now + .seconds(5),
            logger: Logger(label: "test")
        )
    }
}
