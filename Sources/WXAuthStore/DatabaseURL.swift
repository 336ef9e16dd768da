import Logging

/// Where the store lives: `sqlite:PATH` (the embedded default) or `postgres://…`.
public enum DatabaseURL: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(url: String)

    public static let defaultValue = "sqlite:.wxauth/wxauth.sqlite"

    /// Parses `WXAUTH_DATABASE_URL`; nil for anything else.
    public init?(_ text: String) {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { return nil }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else {
            return nil
        }
    }
}

/// Opens the store of a `postgres://` URL. Only WXAuthPostgres, which links postgres-nio, makes one
/// (`PostgresStore.opener`); executables that do not link it have none to pass.
public typealias PostgresStoreOpener =
    @Sendable (
        _ settings: PostgresSettings, _ functionTimeout: Duration, _ logger: Logger
    ) -> any Store

extension DatabaseURL {
    /// The store this URL names. Opens SQLite at once; a PostgreSQL store connects on its first operation, so a
    /// process that never touches the store never pays for a connection or an event loop.
    public func openStore(functionTimeout: Duration, logger: Logger, postgres: PostgresStoreOpener?) throws -> any Store
    {
        switch self {
        case .sqlite(let path):
            return try SQLiteStore(path: path)
        case .postgres(let url):
            guard let postgres else {
                throw StoreError(
                    "\(PostgresSettings.settingName) names PostgreSQL, which this executable does not link"
                )
            }
            return postgres(try PostgresSettings(url: url), functionTimeout, logger)
        }
    }
}
