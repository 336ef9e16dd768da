import ArgumentParser
import Foundation
import Logging
import WeChatSandbox

/// `local-runner dev`: the WeChat sandbox and every function on loopback, with nothing to configure.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Zero-config development: the WeChat sandbox and every function served on 127.0.0.1.",
        discussion: """
            Starts the WeChat sandbox (a free port) with a development app, generates a
            development JWT signing key (random, this run only, never shown), and serves
            every function of functions.yaml as `serve` does (the built-in four when there
            is no functions.yaml). Then prints a curl that signs in through the sandbox.

            Environment the functions get, over the manifest's:
              always (your shell and --env-file cannot change them):
                WECHAT_APPID, WECHAT_SECRET, WECHAT_API_BASE -> the sandbox
                WECHAT_SECRET_FILE                           -> unset
              unless the manifest (from your shell) or --env-file sets KEY or KEY_FILE:
                WXAUTH_JWT_SECRET    random, development only
                WXAUTH_DATABASE_URL  sqlite:.wxauth/dev.sqlite
                WXAUTH_PUBLIC_URL    http://127.0.0.1:PORT
            """
    )

    /// The variables that make the functions talk to the sandbox; nothing the user sets replaces them.
    static let sandboxVariables = ["WECHAT_APPID", "WECHAT_SECRET", "WECHAT_API_BASE", "WECHAT_SECRET_FILE"]

    @Option(help: "Port on 127.0.0.1 for the functions; 0 picks a free one.")
    var port: Int = 8787

    @Option(name: .customLong("env-file"), help: "KEY=VALUE lines applied over the manifest's environment.")
    var envFile: String?

    @Flag(help: "Keep warm function processes (their Lambda runtime loop) instead of one process per request.")
    var warm = false

    @OptionGroup var manifestOptions: ManifestOptions

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0…65535") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let manifest = try loadManifest(environment: environment)
        var variables: EnvironmentFile?
        if let envFile {
            do {
                var file = try EnvironmentFile(contentsOf: URL(fileURLWithPath: envFile))
                let ignored = Set(file.entries.map(\.key)).intersection(Self.sandboxVariables)
                if !ignored.isEmpty {
                    Console.error(
                        "local-runner dev: ignoring \(ignored.sorted().joined(separator: ", ")) from \(envFile) "
                            + "(dev points every function at the sandbox)"
                    )
                }
                file.entries.removeAll { Self.sandboxVariables.contains($0.key) }
                variables = file
            } catch {
                Console.error("local-runner: \(error)")
                throw ExitCode(2)
            }
        }
        let binDirectory = Invocation.binDirectory(environment: environment)
        FunctionServer.warnAboutUnbuiltHandlers(manifest, environment: environment)
        try? FileManager.default.createDirectory(atPath: ".wxauth", withIntermediateDirectories: true)

        let appSecret = DevelopmentApp.makeSecret()
        var logger = Logger(label: "sandbox") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let sandbox: SandboxServer
        do {
            sandbox = try await SandboxServer.start(
                host: "127.0.0.1",
                port: 0,
                apps: [SandboxApp(appid: DevelopmentApp.appID, secret: appSecret)],
                logger: logger
            )
        } catch {
            Console.error("local-runner dev: the WeChat sandbox cannot start: \(error)")
            throw ExitCode(1)
        }
        let pinned = [
            "WECHAT_APPID": DevelopmentApp.appID,
            "WECHAT_SECRET": appSecret,
            "WECHAT_API_BASE": sandbox.baseURL,
            "WECHAT_SECRET_FILE": "",
        ]
        let jwtSecret = DevelopmentApp.makeJWTSecret()
        let server: FunctionServer
        do {
            server = try await FunctionServer.start(
                manifest: manifest,
                binDirectory: binDirectory,
                runnerEnvironment: environment,
                envFile: variables,
                overrides: { function, baseURL in
                    Self.overrides(
                        for: function,
                        pinned: pinned,
                        defaults: [
                            "WXAUTH_JWT_SECRET": jwtSecret,
                            "WXAUTH_DATABASE_URL": "sqlite:.wxauth/dev.sqlite",
                            "WXAUTH_PUBLIC_URL": baseURL,
                        ]
                    )
                },
                host: "127.0.0.1",
                port: port,
                warm: warm
            )
        } catch {
            Console.error("local-runner dev: cannot listen on 127.0.0.1:\(port): \(error)")
            await sandbox.stop()
            throw ExitCode(1)
        }

        let count = manifest.functions.count
        Console.out("WeChat sandbox: \(sandbox.baseURL)")
        Console.out("  app \(DevelopmentApp.appID), AppSecret generated for this run")
        Console.out("  JWT signing key generated for this run (DEVELOPMENT ONLY, not shown)")
        Console.out("  database sqlite:.wxauth/dev.sqlite unless you set WXAUTH_DATABASE_URL")
        Console.out("")
        Console.out("Serving \(count) function\(count == 1 ? "" : "s") on \(server.baseURL)")
        for line in server.routeLines { Console.out(line) }
        Console.out("")
        for line in Self.instructions(sandboxURL: sandbox.baseURL, serverURL: server.baseURL) { Console.out(line) }
        Console.out("")
        Console.out("Stop with Ctrl-C.")
        _ = await Signals.waitForTermination()
        Console.error("local-runner: stopping; letting requests in flight finish")
        await server.stop()
        await sandbox.stop()
    }

    /// `--manifest`, `$WXAUTH_MANIFEST` or `./functions.yaml`; the built-in four when none is given and
    /// there is no `./functions.yaml`.
    private func loadManifest(environment: [String: String]) throws -> Manifest {
        let named = manifestOptions.manifest != nil || !(environment["WXAUTH_MANIFEST"] ?? "").isEmpty
        if !named, !FileManager.default.fileExists(atPath: manifestOptions.url(environment: environment).path) {
            Console.error("local-runner dev: no functions.yaml here; serving the built-in login, callback, refresh, userinfo")
            return Manifest.builtIn
        }
        return try manifestOptions.load(environment: environment)
    }

    /// What `dev` applies over one function's manifest environment: `pinned` always, each of
    /// `defaults` only when the manifest gave the function neither `KEY` nor `KEY_FILE`.
    static func overrides(
        for function: FunctionSpec,
        pinned: [String: String],
        defaults: [String: String]
    ) -> [String: String] {
        var result = pinned
        for (key, value) in defaults {
            let given = [key, key + "_FILE"].contains { !(function.environment[$0] ?? "").isEmpty }
            if !given { result[key] = value }
        }
        return result
    }

    /// The printed "try it" lines: step by step, then as one paste.
    static func instructions(sandboxURL: String, serverURL: String) -> [String] {
        let mint =
            "curl -s -X POST \(sandboxURL)/sandbox/codes -d '{\"appid\":\"\(DevelopmentApp.appID)\",\"user\":\"alice\"}'"
        return [
            "Try it, step by step:",
            "  1. mint a login code for user alice (what wx.login() does in the mini-program):",
            "     \(mint)",
            "  2. sign in with it (put the code from step 1 in place of CODE):",
            "     curl -s -X POST \(serverURL)/login -H 'content-type: application/json' -d '{\"code\":\"CODE\"}'",
            "  3. read the profile (the access_token from step 2 in place of TOKEN):",
            "     curl -s \(serverURL)/userinfo -H 'Authorization: Bearer TOKEN'",
            "",
            "Or all at once (paste into a POSIX shell):",
            "  CODE=$(\(mint) | sed -E 's/.*\"code\" *: *\"([^\"]*)\".*/\\1/')",
            "  TOKEN=$(curl -s -X POST \(serverURL)/login -H 'content-type: application/json' "
                + "-d \"{\\\"code\\\":\\\"$CODE\\\"}\" | sed -E 's/.*\"access_token\" *: *\"([^\"]*)\".*/\\1/')",
            "  curl -s \(serverURL)/userinfo -H \"Authorization: Bearer $TOKEN\"",
        ]
    }
}
