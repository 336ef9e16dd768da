import Logging
import WXAuthStore
import WeChat

/// Builds ``Services`` on first use and keeps them for later invocations of a warm process.
///
/// Nothing is built at start-up: a request refused for its method or body never opens the database.
public actor ServiceProvider {
    private enum Source {
        case environment([String: String], weChatTransport: (any WeChatTransport)?, postgres: PostgresStoreOpener?)
        case fixed(Services)
    }

    private let source: Source
    private var built: Services?

    /// Services from the process environment (CONTRACT §6): `weChatTransport` for a function that calls WeChat,
    /// nil for one that never does; `postgres` opens PostgreSQL stores, where linked.
    public init(
        environment: [String: String],
        weChatTransport: (any WeChatTransport)?,
        postgres: PostgresStoreOpener? = nil
    ) {
        source = .environment(environment, weChatTransport: weChatTransport, postgres: postgres)
    }

    /// Ready-made services (tests).
    public init(_ services: Services) {
        source = .fixed(services)
    }

    public func services(logger: Logger) async throws(AuthError) -> Services {
        if let built { return built }
        switch source {
        case .fixed(let services):
            built = services
            return services
        case .environment(let environment, let weChatTransport, let postgres):
            let config: Config
            do {
                config = try Config(environment: environment)
            } catch {
                logger.error("configuration error", metadata: ["setting": "\(error.description)"])
                throw .misconfigured(error.description)
            }
            let services = try await Services.live(
                config: config,
                weChatTransport: weChatTransport,
                postgres: postgres,
                logger: logger
            )
            built = services
            return services
        }
    }
}
