import Logging
import WXAuthStore

extension PostgresStore {
    /// Makes the PostgreSQL store of a URL: what every executable hands to the store opening.
    public static let opener: PostgresStoreOpener = { settings, functionTimeout, logger in
        PostgresStore(settings: settings, functionTimeout: functionTimeout, logger: logger)
    }
}

extension DatabaseURL {
    /// The store this URL names, SQLite or PostgreSQL.
    public func openStore(functionTimeout: Duration, logger: Logger) throws -> any Store {
        try openStore(functionTimeout: functionTimeout, logger: logger, postgres: PostgresStore.opener)
    }
}
