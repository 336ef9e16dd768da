import BlockingSocket
import Logging
import PostgresWire
import WXAuthStore

/// The one connection of a process: opened on first use, kept across warm invocations, reopened when it has
/// failed or closed. The connection's blocking calls run on a thread of the session's own, never on Swift's
/// cooperative pool (which serves every other request of `wxauth-http`); operations queue there and take turns,
/// since a transaction needs the connection to itself.
final class PostgresSession: Sendable {
    private let worker = WorkerThread()
    private let state: SessionState

    init(settings: PostgresSettings, timeouts: PostgresTimeouts, logger: Logger) {
        state = SessionState(settings: settings, timeouts: timeouts, logger: logger)
    }

    deinit {
        let state = self.state
        worker.enqueue { state.close() }
        worker.stop()
    }

    /// Runs `body` in a turn of its own on the session's thread; `body` opens the connection through the
    /// state (``SessionState/open()``) and reports how it went (``SessionState/finish(_:)``).
    func withTurn<T: Sendable>(_ body: @escaping @Sendable (SessionState) throws -> T) async throws -> T {
        let state = self.state
        return try await worker.run { try body(state) }
    }

    /// Closes the connection (tests, the runner's commands); a later turn would open a new one.
    func close() async {
        let state = self.state
        try? await worker.run { state.close() }
    }

    /// The server's SQLSTATE for a failed statement.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PostgresServerError)?.sqlState
    }

    /// The short, secret-free reason for a failure: its SQLSTATE, or what failed on the connection.
    static func reason(_ error: any Error) -> String {
        switch error {
        case let error as PostgresServerError: error.description
        case let error as SocketError:
            error.timedOut ? "no answer within the client's watchdog limit (\(error))" : error.description
        case let error as PostgresWireError: error.description
        case let error as PostgresDecodingError: error.description
        default: "\(type(of: error))"
        }
    }
}

/// The session's connection and what it remembers between turns. Touched only on the session's thread.
final class SessionState: @unchecked Sendable {
    private let settings: PostgresSettings
    let timeouts: PostgresTimeouts
    private let logger: Logger
    private var connection: PostgresConnection?
    private var lastUsed: ContinuousClock.Instant?
    /// Whether this process has brought the schema up to date.
    var migrated = false

    /// A warm connection idle longer than this is checked before use: a frozen Lambda or a NAT may have
    /// dropped it without either end noticing.
    static let idleCheckAfter: Duration = .seconds(30)

    init(settings: PostgresSettings, timeouts: PostgresTimeouts, logger: Logger) {
        self.settings = settings
        self.timeouts = timeouts
        self.logger = logger
    }

    /// The open connection, connecting first when there is none (or the idle one no longer answers).
    func open() throws -> PostgresConnection {
        if let connection, !connection.isClosed {
            guard let lastUsed, ContinuousClock.now - lastUsed > Self.idleCheckAfter else { return connection }
            connection.deadline = ContinuousClock.now + timeouts.connect
            if (try? connection.query("SELECT 1")) != nil { return connection }
            connection.close()
        }
        connection = nil
        do {
            let opened = try PostgresConnection(
                settings.connectionOptions,
                deadline: ContinuousClock.now + (settings.connectTimeout ?? timeouts.connect)
            )
            connection = opened
            return opened
        } catch {
            // The reason may quote the server, never the password; the log names the host, not the password.
            logger.error(
                "cannot connect to PostgreSQL",
                metadata: ["database": "\(settings)", "reason": "\(PostgresSession.reason(error))"]
            )
            throw StoreError("cannot connect to the PostgreSQL database of \(PostgresSettings.settingName)")
        }
    }

    /// Ends a turn that used the connection: a connection that failed is dropped, so the next turn reconnects.
    func finish(_ connection: PostgresConnection) {
        lastUsed = ContinuousClock.now
        if connection.isClosed, connection === self.connection { self.connection = nil }
    }

    func close() {
        connection?.close()
        connection = nil
    }
}

/// How long connecting and each operation may take; together they fit inside the function's timeout.
struct PostgresTimeouts: Sendable {
    var connect: Duration
    /// The server's `statement_timeout` and `lock_timeout` for each statement of an operation.
    var statement: Duration
    /// When the client gives up on an operation whose server has gone silent (and closes the connection). Well
    /// after ``statement``, so a server that is merely slow answers with its own timeout error first and the
    /// connection stays usable.
    var watchdog: Duration

    /// A quarter of the function's timeout to connect and a quarter per statement; the watchdog at half.
    init(functionTimeout: Duration) {
        self.init(connect: functionTimeout / 4, statement: functionTimeout / 4, watchdog: functionTimeout / 2)
    }

    init(connect: Duration, statement: Duration, watchdog: Duration) {
        self.connect = connect
        self.statement = statement
        self.watchdog = watchdog
    }

    var statementMilliseconds: Int64 {
        let (seconds, attoseconds) = statement.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
