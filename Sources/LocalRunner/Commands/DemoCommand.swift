import ArgumentParser
import Foundation
import Logging
import Synchronization
import WeChatSandbox

/// `local-runner demo`: a whole mini-program sign-in against the sandbox, with nothing to configure.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Sign in end to end against the WeChat sandbox: login, userinfo, refresh.",
        discussion: """
            Starts the sandbox in-process with a development app, generates a development JWT secret,
            and runs the built login, userinfo and refresh executables exactly as `invoke` does.
            Needs the functions built (./local-runner builds them).
            """
    )

    @Option(help: "The SQLite database the functions use; it is deleted first.")
    var database = ".wxauth/demo.sqlite"

    @Flag(help: "Show the functions' log lines as they run.")
    var verbose = false

    func run() async throws {
        let runnerEnvironment = ProcessInfo.processInfo.environment
        let binDirectory = Invocation.binDirectory(environment: runnerEnvironment)
        let missing = ["login", "userinfo", "refresh"].filter {
            !FileManager.default.isExecutableFile(atPath: binDirectory.appendingPathComponent($0).path)
        }
        guard missing.isEmpty else {
            Console.error(
                "local-runner demo: \(missing.joined(separator: ", ")) not built in \(binDirectory.path); "
                    + "run ./local-runner demo (it builds them) or swift build -c release"
            )
            throw ExitCode(1)
        }
        try resetDatabase()

        let appSecret = DevelopmentApp.makeSecret()
        var logger = Logger(label: "sandbox") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .info : .warning
        let sandbox = try await SandboxServer.start(
            apps: [SandboxApp(appid: DevelopmentApp.appID, secret: appSecret)],
            logger: logger
        )
        let demo = Demo(
            sandboxURL: sandbox.baseURL,
            sandboxPort: sandbox.port,
            binDirectory: binDirectory,
            runnerEnvironment: runnerEnvironment,
            functionEnvironment: [
                "WECHAT_APPID": DevelopmentApp.appID,
                "WECHAT_SECRET": appSecret,
                "WECHAT_API_BASE": sandbox.baseURL,
                "WXAUTH_JWT_SECRET": DevelopmentApp.makeJWTSecret(),
                "WXAUTH_DATABASE_URL": "sqlite:\(database)",
            ],
            verbose: verbose
        )
        Console.out("WeChat sandbox: \(sandbox.baseURL), app \(DevelopmentApp.appID) (secret generated for this run)")
        Console.out("JWT signing key: generated for this run (development only, not shown)")
        Console.out("Database: \(database) (fresh)")
        let succeeded: Bool
        do {
            succeeded = try await Signals.cancellingOnTermination { try await demo.signIn() }
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
        guard succeeded else { throw ExitCode(1) }
        Console.out("\nDone: signed in, read the profile, rotated the refresh token.")
    }

    private func resetDatabase() throws {
        let url = URL(fileURLWithPath: database)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        for suffix in ["", "-wal", "-shm", "-journal"] {
            try? FileManager.default.removeItem(atPath: url.path + suffix)
        }
    }
}

/// The demo's steps, each printing what it sends and what came back.
private struct Demo: Sendable {
    var sandboxURL: String
    var sandboxPort: Int
    var binDirectory: URL
    var runnerEnvironment: [String: String]
    var functionEnvironment: [String: String]
    var verbose: Bool

    /// Runs every step; false (after printing why) at the first that fails.
    func signIn() async throws -> Bool {
        Console.out("\n1. The mini-program calls wx.login(); the sandbox mints a code for user \"alice\"")
        let minted = try mintCode(user: "alice")
        guard let code = minted["code"] as? String else { return false }

        Console.out("\n2. The mini-program sends the code to the login function")
        let loginEvent = HTTPEvent(
            method: "POST",
            path: "/login",
            headers: ["content-type": "application/json"],
            body: json(["code": code])
        )
        guard let login = try await call("login", loginEvent),
            let accessToken = login["access_token"] as? String,
            let refreshToken = login["refresh_token"] as? String
        else { return false }

        Console.out("\n3. The app reads the signed-in user's profile")
        let userinfoEvent = HTTPEvent(
            method: "GET",
            path: "/userinfo",
            headers: ["authorization": "Bearer \(accessToken)"]
        )
        guard try await call("userinfo", userinfoEvent) != nil else { return false }

        Console.out("\n4. Later, the app trades its refresh token for new tokens")
        let refreshEvent = HTTPEvent(
            method: "POST",
            path: "/refresh",
            headers: ["content-type": "application/json"],
            body: json(["refresh_token": refreshToken])
        )
        guard try await call("refresh", refreshEvent) != nil else { return false }
        return true
    }

    /// `POST /sandbox/codes` on the control API.
    private func mintCode(user: String) throws -> [String: Any] {
        let body = json(["appid": DevelopmentApp.appID, "user": user])
        Console.out("   → POST \(sandboxURL)/sandbox/codes \(body)")
        let response = try LoopbackHTTP.postJSON(port: sandboxPort, path: "/sandbox/codes", body: body)
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        Console.out("   ← \(response.status) \(display(object))")
        guard response.status == 201, object["code"] is String else {
            Console.error("local-runner demo: the sandbox did not mint a code")
            return [:]
        }
        return object
    }

    /// Runs one function through the same machinery as `invoke`; the decoded body of a 200, else nil.
    private func call(_ name: String, _ event: HTTPEvent) async throws -> [String: Any]? {
        guard let function = Manifest.builtIn.function(named: name) else { return nil }
        var shown = event.headers.map { "\($0.key): \(Self.shorten(header: $0.value))" }.sorted()
        if let body = event.body {
            shown.append((try? JSONSerialization.jsonObject(with: Data(body.utf8))).map(display) ?? body)
        }
        Console.out("   → \(event.method) \(event.path)  [\(name)]  \(shown.joined(separator: "  "))")

        let logs = Mutex<[UInt8]>([])
        let verbose = self.verbose
        let invocation = Invocation(
            function: function,
            binDirectory: binDirectory,
            runnerEnvironment: runnerEnvironment,
            overrides: functionEnvironment
        )
        let result = try await invocation.run(event: event.encoded()) { chunk in
            if verbose { Console.write(chunk, to: 2) } else { logs.withLock { $0 += chunk } }
        }
        let response = (try? JSONSerialization.jsonObject(with: Data(result.outcome.stdout))) as? [String: Any]
        let bodyText = response?["body"] as? String ?? ""
        let body = (try? JSONSerialization.jsonObject(with: Data(bodyText.utf8))) as? [String: Any]
        let milliseconds =
            Double(result.outcome.duration.components.attoseconds) / 1e15
            + Double(result.outcome.duration.components.seconds) * 1000
        let status = result.statusCode.map(String.init) ?? result.failure?.type ?? "?"
        Console.out("   ← \(status) in \(String(format: "%.1f", milliseconds)) ms  \(body.map(display) ?? bodyText)")
        guard result.succeeded, result.statusCode == 200, let body else {
            if !verbose { Console.write(logs.withLock { $0 }, to: 2) }
            Console.error("local-runner demo: \(name) failed (\(result.errorJSON ?? "status \(status)"))")
            Console.error(result.reportLine)
            return nil
        }
        return body
    }

    private func json(_ object: [String: String]) -> String {
        let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return data.flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    /// Compact JSON with every token cut to its first 12 characters.
    private func display(_ object: Any) -> String {
        let shortened = Self.shortenTokens(object)
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: shortened,
                options: [.sortedKeys, .withoutEscapingSlashes]
            )
        else { return "\(shortened)" }
        return String(decoding: data, as: UTF8.self)
    }

    private static func shortenTokens(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            var copy: [String: Any] = [:]
            for (key, member) in object {
                if key.hasSuffix("_token"), let text = member as? String {
                    copy[key] = shorten(text)
                } else {
                    copy[key] = shortenTokens(member)
                }
            }
            return copy
        }
        if let array = value as? [Any] { return array.map(shortenTokens) }
        return value
    }

    private static func shorten(_ token: String) -> String {
        token.count > 12 ? token.prefix(12) + "…" : token
    }

    private static func shorten(header value: String) -> String {
        value.hasPrefix("Bearer ") ? "Bearer " + shorten(String(value.dropFirst("Bearer ".count))) : value
    }
}
