import Foundation
import TestSupport
import Testing

/// Every function binary opens PostgreSQL in its own process with the wire client (PostgresWire): no
/// postgres-nio, and so none of the Foundation it brings. The store-parameterised end-to-end tests run the
/// functions against a real server.
@Suite struct FunctionProcessTests {
    static let functions = ["login", "callback", "refresh", "userinfo", "logout", "admin"]

    @Test func theFunctionBinariesLinkTheWireClientAndNotPostgresNIO() async throws {
        let directory = EndToEnd.locateExecutables()
        for function in Self.functions {
            let binary = directory.appendingPathComponent(function)
            // Mangled module names, as every symbol from the module carries them.
            #expect(try await Self.contains("11PostgresNIO", file: binary) == false, "\(function)")
            #expect(try await Self.contains("12PostgresWire", file: binary), "\(function)")
        }
    }

    /// The environment of the tools the tests run (grep, python, `local-runner keys`): a PATH and nothing else.
    static let toolEnvironment = ["PATH": "/usr/bin:/bin"]

    /// Whether a file holds `text`, by `grep` (the debug binaries are over 100 MB).
    static func contains(_ text: String, file: URL) async throws -> Bool {
        let grep = try await runChildProcess(
            URL(fileURLWithPath: "/usr/bin/grep"),
            arguments: ["-q", "-a", "-F", text, file.path],
            environment: toolEnvironment
        )
        try #require(grep.status == 0 || grep.status == 1, "grep failed on \(file.path): \(grep.stderr)")
        return grep.status == 0
    }
}
