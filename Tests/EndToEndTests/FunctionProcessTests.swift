import Foundation
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

    /// Runs an executable to its end: exit status, stdout, stderr.
    static func run(
        _ executable: URL,
        arguments: [String] = [],
        environment: [String: String],
        stdin: String
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { own, _ in own }
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        async let stdout = EndToEnd.onThread { output.fileHandleForReading.readDataToEndOfFile() }
        async let stderr = EndToEnd.onThread { errors.fileHandleForReading.readDataToEndOfFile() }
        _ = await EndToEnd.onThread {
            try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8))
            try? input.fileHandleForWriting.close()
        }
        let (out, err) = await (stdout, stderr)
        await EndToEnd.onThread { process.waitUntilExit() }
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    /// Whether a file holds `text`, by `grep` (the debug binaries are over 100 MB).
    static func contains(_ text: String, file: URL) async throws -> Bool {
        let grep = try await run(
            URL(fileURLWithPath: "/usr/bin/grep"),
            arguments: ["-q", "-a", "-F", text, file.path],
            environment: [:],
            stdin: ""
        )
        try #require(grep.status == 0 || grep.status == 1, "grep failed on \(file.path): \(grep.stderr)")
        return grep.status == 0
    }
}
