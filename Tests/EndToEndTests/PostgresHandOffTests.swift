import Foundation
import Testing

/// The function binaries do not link postgres-nio; a PostgreSQL configuration runs `wxauth-postgres` in their
/// place (Sources/WXAuth/PostgresHandOff.swift). The store-parameterised end-to-end tests cover the hand-off
/// itself against a real server; these cover what needs none.
@Suite struct PostgresHandOffTests {
    static let functions = ["login", "callback", "refresh", "userinfo", "logout"]

    /// The mangled name of postgres-nio's module, as every symbol from it carries it.
    static let postgresModuleSymbol = "11PostgresNIO"

    @Test func theFunctionBinariesDoNotLinkPostgresNIOButWxauthPostgresDoes() async throws {
        let directory = EndToEnd.locateExecutables()
        for function in Self.functions {
            #expect(try await Self.contains(Self.postgresModuleSymbol, file: directory.appendingPathComponent(function)) == false, "\(function)")
        }
        #expect(try await Self.contains(Self.postgresModuleSymbol, file: directory.appendingPathComponent("wxauth-postgres")))
    }

    @Test func withoutWxauthPostgresBesideItAFunctionAnswersA500NamingTheSettingNeverThePassword() async throws {
        // The function alone in a directory: a hard link, since the hand-off looks beside the executable's own path.
        let lonely = FileManager.default.temporaryDirectory.appendingPathComponent("wxauth-lonely-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: lonely, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: lonely) }
        let source = EndToEnd.locateExecutables().appendingPathComponent("userinfo")
        let binary = lonely.appendingPathComponent("userinfo")
        do { try FileManager.default.linkItem(at: source, to: binary) } catch { try FileManager.default.copyItem(at: source, to: binary) }

        let password = "hand-off-password-never-printed"
        let url = "postgres://wxauth:\(password)@127.0.0.1:9/wxauth"
        let urlFile = lonely.appendingPathComponent("database-url")
        try Data((url + "\n").utf8).write(to: urlFile)
        // The URL itself, or (as secrets managers mount it) a file holding it.
        for setting in [["WXAUTH_DATABASE_URL": url], ["WXAUTH_DATABASE_URL_FILE": urlFile.path]] {
            let result = try await Self.run(
                binary, environment: setting.merging(["WXAUTH_JWT_SECRET": EndToEnd.jwtSecret]) { own, _ in own },
                stdin: #"{"version":"2.0","rawPath":"/userinfo","headers":{"authorization":"Bearer x"},"requestContext":{"http":{"method":"GET","path":"/userinfo"}}}"#
            )
            #expect(result.status == 0)
            let response = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(response["statusCode"] as? Int == 500, "\(setting.keys)")
            let body = response["body"] as? String ?? ""
            #expect(body.contains("WXAUTH_DATABASE_URL") && body.contains("wxauth-postgres"), "\(body)")
            #expect(result.stderr.contains("wxauth-postgres"))
            #expect(!result.stdout.contains(password) && !result.stderr.contains(password))
        }
    }

    @Test func wxauthPostgresWithoutAFunctionSaysHowToRunIt() async throws {
        let binary = EndToEnd.locateExecutables().appendingPathComponent("wxauth-postgres")
        let result = try await Self.run(binary, arguments: ["nosuchfunction"], environment: [:], stdin: "{}")
        #expect(result.status == 64)
        #expect(result.stderr.contains("usage: wxauth-postgres login|callback|refresh|userinfo|logout"))
        #expect(result.stdout.isEmpty)
    }

    /// Runs an executable to its end: exit status, stdout, stderr.
    static func run(
        _ executable: URL, arguments: [String] = [], environment: [String: String], stdin: String
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { own, _ in own }
        let input = Pipe(), output = Pipe(), errors = Pipe()
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
        let grep = try await run(URL(fileURLWithPath: "/usr/bin/grep"), arguments: ["-q", "-a", "-F", text, file.path], environment: [:], stdin: "")
        try #require(grep.status == 0 || grep.status == 1, "grep failed on \(file.path): \(grep.stderr)")
        return grep.status == 0
    }
}
