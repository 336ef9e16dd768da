import BlockingSocket
import Foundation
import PostgresWire
import WXAuthPostgres
import WXAuthStore

/// Writing to a pipe whose reader is gone — a function process that answered and exited before reading all of
/// its stdin, as the bounded reads make it do for a huge event — must fail with EPIPE, not kill the whole test
/// process with SIGPIPE as it does by default. Touched first thing by the tests that spawn or connect.
public enum BrokenPipes {
    public static let ignored: Void = { signal(SIGPIPE, SIG_IGN) }()
}

/// The PostgreSQL server the tests may use, named by `WXAUTH_TEST_POSTGRES_URL`. Every test gets a schema of its
/// own, so tests run in parallel and never see each other's rows.
public enum PostgresTestDatabase {
    /// The server's URL, or nil when the PostgreSQL tests are to be skipped.
    public static let url: String? = {
        _ = BrokenPipes.ignored
        guard let value = ProcessInfo.processInfo.environment["WXAUTH_TEST_POSTGRES_URL"], !value.isEmpty else {
            return nil
        }
        return value
    }()

    /// The same server over verify-full TLS with a user that signs in with SCRAM-SHA-256 (`.ci/postgres-cluster
    /// tls-url`), named by `WXAUTH_TEST_POSTGRES_TLS_URL`; nil skips those tests.
    public static let tlsURL: String? = {
        guard let value = ProcessInfo.processInfo.environment["WXAUTH_TEST_POSTGRES_TLS_URL"], !value.isEmpty else {
            return nil
        }
        return value
    }()

    /// Why PostgreSQL tests were skipped, and how to run them; Swift Testing prints it beside each skipped test.
    public static let skipReason = """
        PostgreSQL tests skipped: WXAUTH_TEST_POSTGRES_URL is not set. Run them with \
        WXAUTH_TEST_POSTGRES_URL=postgres://user:pass@127.0.0.1:5432/db swift test (a throw-away database: \
        each test creates a schema), or run .ci/run, which starts a throw-away cluster.
        """

    /// Creates a fresh schema and returns a URL whose `search_path` is that schema.
    public static func freshSchemaURL() async throws -> String {
        guard let url else { throw PostgresTestError("WXAUTH_TEST_POSTGRES_URL is not set") }
        let schema = "wxauth_test_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        _ = try await integer("CREATE SCHEMA \(schema)", url: url)
        return url + (url.contains("?") ? "&" : "?") + "options=-c%20search_path%3D\(schema)"
    }

    /// Runs `sql` on a connection of its own (with the URL's search_path) and returns the first column of the
    /// first row as an integer, if there is one.
    @discardableResult
    public static func integer(_ sql: String, url: String) async throws -> Int? {
        let connection = try await connect(url: url)
        defer { connection.close() }
        return try await connection.query(sql).first?.decode(Int.self, at: 0)
    }

    /// A connection of the test's own; the caller closes it.
    package static func connect(url: String) async throws -> PostgresTestConnection {
        try await PostgresTestConnection(options: try PostgresSettings(url: url).connectionOptions)
    }
}

/// A wire connection whose blocking calls run on a thread of its own, off the tests' cooperative pool.
public final class PostgresTestConnection: Sendable {
    private let worker = WorkerThread()
    private let box: Box

    private final class Box: @unchecked Sendable {
        var connection: PostgresConnection?
    }

    package init(options: PostgresConnectionOptions) async throws {
        let box = Box()
        self.box = box
        try await worker.run {
            box.connection = try PostgresConnection(options, deadline: ContinuousClock.now + .seconds(10))
        }
    }

    /// Runs one statement (with 30 s to answer).
    @discardableResult
    package func query(_ sql: String) async throws -> PostgresResult {
        let box = self.box
        return try await worker.run {
            guard let connection = box.connection else { throw PostgresTestError("closed") }
            connection.deadline = ContinuousClock.now + .seconds(30)
            return try connection.query(PostgresQuery(unsafeSQL: sql))
        }
    }

    /// Closes the connection (after any queued statement) and ends the thread.
    public func close() {
        let box = self.box
        worker.enqueue {
            box.connection?.close()
            box.connection = nil
        }
        worker.stop()
    }

    deinit { close() }
}
public struct PostgresTestError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
