import Logging
import WXAuthStore

extension DatabaseURL {
    /// The store this URL names. Opens SQLite at once; PostgreSQL connects on the store's first operation, so a
    /// process that never touches the store never pays for a connection or an event loop.
    public func openStore(functionTimeout: Duration, logger: Logger) throws -> any Store {
        switch self {
        case .sqlite(let path):
            try SQLiteStore(path: path)
        case .postgres(let url):
            PostgresStore(settings: try PostgresSettings(url: url), functionTimeout: functionTimeout, logger: logger)
        }
    }
}
