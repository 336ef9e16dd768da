import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization
import WXAuthStore

/// The one connection of a process: opened on first use, kept across warm invocations, reopened when it has
/// closed. Operations take turns on it, since a transaction needs the connection to itself.
actor PostgresSession {
    private let settings: PostgresSettings
    private let timeouts: PostgresTimeouts
    private let logger: Logger
    private var connection: PostgresConnection?
    private var lastUsed: ContinuousClock.Instant?
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var connectionCount = 0

    /// A warm connection idle longer than this is checked before use: a frozen Lambda or a NAT may have
    /// dropped it without either end noticing.
    private static let idleCheckAfter: Duration = .seconds(30)

    init(settings: PostgresSettings, timeouts: PostgresTimeouts, logger: Logger) {
        self.settings = settings
        self.timeouts = timeouts
        self.logger = logger
    }

    deinit {
        // Closing is asynchronous; the completion handler keeps the connection alive until it is closed.
        if let connection { connection.close().whenComplete { _ in _ = connection } }
    }

    /// Waits for its turn and returns an open connection; the caller must ``giveBack(_:healthy:)`` it.
    func take() async throws -> PostgresConnection {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
        do {
            return try await openConnection()
        } catch {
            passTurn()
            throw error
        }
    }

    /// Ends a turn. A connection that failed at the transport level is dropped, so the next turn reconnects.
    func giveBack(_ used: PostgresConnection, healthy: Bool) {
        lastUsed = ContinuousClock.now
        if !healthy, used === connection {
            connection = nil
            // Not awaited: the next turn opens a new connection and need not wait for this one to be gone.
            used.close().whenComplete { _ in _ = used }
        }
        passTurn()
    }

    /// Closes the connection (tests, the runner's commands); a later turn would open a new one.
    func close() async {
        if let connection { try? await connection.close() }
        connection = nil
    }

    private func passTurn() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }

    private func openConnection() async throws -> PostgresConnection {
        if let connection, !connection.isClosed {
            guard let lastUsed, ContinuousClock.now - lastUsed > Self.idleCheckAfter else { return connection }
            let logger = self.logger
            let answered = try? await withWatchdog(connection, timeouts.connect) {
                try await $0.query("SELECT 1", logger: logger).collect().count
            }
            if answered != nil { return connection }
            try? await connection.close()
        }
        connection = nil
        connectionCount += 1
        let configuration = try settings.connectionConfiguration(connectTimeout: timeouts.connect)
        do {
            let opened = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: connectionCount,
                logger: logger
            )
            connection = opened
            return opened
        } catch {
            // postgres-nio's error text may quote the server; the log names the host, never the password.
            logger.error("cannot connect to PostgreSQL", metadata: ["database": "\(settings)", "reason": "\(Self.reason(error))"])
            throw StoreError("cannot connect to the PostgreSQL database of \(PostgresSettings.settingName)")
        }
    }

    /// The server's SQLSTATE for a failed statement, from either of postgres-nio's error types.
    static func sqlState(_ error: any Error) -> String? {
        switch error {
        case let error as PSQLError: error.serverInfo?[.sqlState]
        case PostgresError.server(let message): message.fields[.sqlState]
        default: nil
        }
    }

    /// Whether the connection failed (or was given up on) rather than a statement: it must not be used again.
    static func isTransportFailure(_ error: any Error) -> Bool {
        if error is PostgresWatchdogTimeout { return true }
        guard let error = error as? PSQLError else { return false }
        return error.code != .server
    }

    /// The short, secret-free reason for a failure: its SQLSTATE or postgres-nio's error code.
    static func reason(_ error: any Error) -> String {
        if let state = sqlState(error) { return "SQLSTATE \(state)" }
        switch error {
        case let error as PSQLError: return error.code.description
        case PostgresError.connectionClosed: return "connection closed"
        case let error as PostgresWatchdogTimeout: return error.description
        default: return "\(type(of: error))"
        }
    }
}

/// How long connecting and each operation may take; together they fit inside the function's timeout.
struct PostgresTimeouts: Sendable {
    var connect: Duration
    /// The server's `statement_timeout` and `lock_timeout` for each statement of an operation.
    var statement: Duration
    /// When the client gives up on an operation whose server has gone silent. Well after ``statement``, so a
    /// server that is merely slow answers with its own timeout error first and the connection stays usable.
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

/// The client-side watchdog gave up on an operation: the connection is closed and must not be used again.
struct PostgresWatchdogTimeout: Error, CustomStringConvertible {
    var description: String { "no answer within the client's watchdog limit" }
}

/// Runs `body` and returns its result, or throws ``PostgresWatchdogTimeout`` once `limit` has passed, closing the
/// connection: a statement timeout cannot help when the network itself has gone quiet.
///
/// The caller never waits longer than `limit`, even when postgres-nio never completes a query. It can fail to:
/// a query written to a connection that has finished closing is dropped by NIO without failing its promise, so
/// closing the connection does not always wake a pending query. `body` therefore runs in a task of its own that
/// is left behind on timeout, to fail (or hang, holding only itself) on the closed connection; it must touch no
/// connection but the one it is given.
func withWatchdog<T: Sendable>(
    _ connection: PostgresConnection, _ limit: Duration,
    _ body: @escaping @Sendable (PostgresConnection) async throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let outcome = FirstOutcome(continuation)
        let watchdog = Task {
            try await Task.sleep(for: limit)
            guard let caller = outcome.claim() else { return }
            // Fails the pending query when it can; kept alive until closed (it asserts so when released).
            connection.close().whenComplete { _ in _ = connection }
            caller.resume(throwing: PostgresWatchdogTimeout())
        }
        Task {
            let result: Result<T, any Error>
            do {
                result = .success(try await body(connection))
            } catch {
                result = .failure(error)
            }
            watchdog.cancel()
            outcome.claim()?.resume(with: result)
        }
    }
}

/// A continuation resumed once, by the first of the racers that report to it.
private final class FirstOutcome<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>

    init(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation = Mutex(continuation)
    }

    /// The continuation for the first caller, which must resume it; nil for every later one.
    func claim() -> CheckedContinuation<T, any Error>? {
        continuation.withLock { waiting in
            defer { waiting = nil }
            return waiting
        }
    }
}
