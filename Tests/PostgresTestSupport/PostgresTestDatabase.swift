import Foundation
import Logging
import NIOPosix
import PostgresNIO
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
        guard let value = ProcessInfo.processInfo.environment["WXAUTH_TEST_POSTGRES_URL"], !value.isEmpty else { return nil }
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
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger).collect()
            try await connection.close()
            return try rows.first.map { try $0.decode(Int.self) }
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A connection of the test's own; the caller closes it.
    public static func connect(url: String) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.any(),
            configuration: try PostgresSettings(url: url).connectionConfiguration(connectTimeout: .seconds(10)), id: 0,
            logger: logger
        )
    }

    /// Discards postgres-nio's own logs.
    public static let logger = Logger(label: "postgres-test") { _ in SwiftLogNoOpLogHandler() }
}

public struct PostgresTestError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
