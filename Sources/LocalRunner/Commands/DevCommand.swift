import ArgumentParser
import Foundation
import Logging
import WXAuth
import WeChatSandbox

/// `local-runner dev`: the WeChat sandbox and every function on loopback, with nothing to configure.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Zero-config development: the WeChat sandbox, every function and a sign-in demo on 127.0.0.1.",
        discussion: """
            Starts the WeChat sandbox (a free port) with three development apps (a mini-program, an
            official account and a website app, secrets generated for this run), generates a
            development JWT signing key (random, this run only, never shown), and serves every
            function of functions.yaml as `serve` does (the built-in ones when there is no
            functions.yaml), with a web sign-in demo page at /. Then prints the demo's URL and a
            curl that signs in through the sandbox.

            Environment the functions get, over the manifest's:
              always (your shell and --env-file cannot change them):
                WECHAT_APPID, WECHAT_SECRET            -> the sandbox's mini-program
                WECHAT_OA_APPID, WECHAT_OA_SECRET      -> the sandbox's official account
                WECHAT_WEB_APPID, WECHAT_WEB_SECRET    -> the sandbox's website app
                WECHAT_API_BASE, WECHAT_OPEN_BASE      -> the sandbox
                WECHAT_SECRET_FILE, WECHAT_OA_SECRET_FILE, WECHAT_WEB_SECRET_FILE -> unset
              unless the manifest (from your shell) or --env-file sets KEY or KEY_FILE:
                WXAUTH_JWT_SECRET    random, development only
                WXAUTH_SIGNING_KEYS  a new ES256 key, development only
                WXAUTH_DATABASE_URL  sqlite:.wxauth/dev.sqlite
                WXAUTH_PUBLIC_URL    http://127.0.0.1:PORT
                WXAUTH_RETURN_TO     /
            """
    )

    /// The variables that make the functions talk to the sandbox; nothing the user sets replaces them.
    static let sandboxVariables = DevelopmentApp.variableNames

    @Option(help: "Port on 127.0.0.1 for the functions; 0 picks a free one.")
    var port: Int = 8787

    @OptionGroup var serving: ServingOptions

    func validate() throws {
        try ServingOptions.validate(port: port)
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let manifest = try loadManifest(environment: environment)
        var variables = try serving.envFileOption.load()
        if var file = variables {
            let ignored = Set(file.entries.map(\.key)).intersection(Self.sandboxVariables)
            if !ignored.isEmpty {
                Console.error(
                    "local-runner dev: ignoring \(ignored.sorted().joined(separator: ", ")) from \(serving.envFileOption.envFile ?? "") "
                        + "(dev points every function at the sandbox)"
                )
            }
            file.entries.removeAll { Self.sandboxVariables.contains($0.key) }
            variables = file
        }
        let binDirectory = Invocation.binDirectory(environment: environment)
        FunctionServer.warnAboutUnbuiltHandlers(manifest, environment: environment)
        try? FileManager.default.createDirectory(atPath: ".wxauth", withIntermediateDirectories: true)

        let apps = DevelopmentApp.makeApps()
        var logger = Logger(label: "sandbox") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let sandbox: SandboxServer
        do {
            sandbox = try await SandboxServer.start(host: "127.0.0.1", port: 0, apps: apps, logger: logger)
        } catch {
            Console.error("local-runner dev: the WeChat sandbox cannot start: \(error)")
            throw ExitCode(1)
        }
        let pinned = DevelopmentApp.environment(apps: apps, sandboxURL: sandbox.baseURL)
        let jwtSecret = DevelopmentApp.makeJWTSecret()
        // Tokens are signed with an ES256 key made for this run, so the demo's JWKS has a key to show.
        let signingKeys = try KeysCommand.attempt { () throws(KeyGeneration.Failure) in
            try KeyGeneration.keySet(first: try KeyGeneration.newJWK(algorithm: "ES256", kid: nil), then: nil)
        }
        let defaults: @Sendable (String) -> [String: String] = { baseURL in
            [
                "WXAUTH_JWT_SECRET": jwtSecret,
                "WXAUTH_SIGNING_KEYS": signingKeys,
                "WXAUTH_DATABASE_URL": "sqlite:.wxauth/dev.sqlite",
                "WXAUTH_PUBLIC_URL": baseURL,
                "WXAUTH_RETURN_TO": "/",
            ]
        }
        let server: FunctionServer
        do {
            server = try await serving.startServer(
                command: "local-runner dev",
                manifest: manifest,
                binDirectory: binDirectory,
                environment: environment,
                envFile: variables,
                host: "127.0.0.1",
                port: port,
                overrides: { function, baseURL in
                    Self.overrides(for: function, pinned: pinned, defaults: defaults(baseURL))
                },
                staticPages: ["/": DemoPage.page]
            )
        } catch {
            await sandbox.stop()
            throw error
        }

        // What the sign-in functions actually get, the user's settings included.
        let shown = manifest.functions.first { $0.name == "login" } ?? manifest.functions.first
        let effective =
            shown.map {
                Invocation.environment(
                    for: $0,
                    runnerEnvironment: [:],
                    overrides: Self.overrides(for: $0, pinned: pinned, defaults: defaults(server.baseURL)),
                    envFile: variables
                )
            } ?? pinned
        Console.out("WeChat sandbox: \(sandbox.baseURL)")
        for app in apps {
            Console.out("  \(app.appid)  \(app.kind.title)")
        }
        Console.out(
            "  AppSecrets, the JWT secret and an ES256 signing key generated for this run (DEVELOPMENT ONLY, not shown)"
        )
        // A database URL of the user's may hold a password: only the default is shown.
        let defaultDatabase = effective["WXAUTH_DATABASE_URL"] == "sqlite:.wxauth/dev.sqlite"
        Console.out("  database " + (defaultDatabase ? "sqlite:.wxauth/dev.sqlite" : "as you set it (not shown)"))
        Console.out("")
        Console.out("Every function gets (secrets not shown):")
        for line in Self.settingLines(effective) { Console.out("  \(line)") }
        Console.out("")
        for line in server.summaryLines { Console.out(line) }
        Console.out("")
        Console.out("Web sign-in demo: open \(server.baseURL)/ in a browser")
        Console.out("")
        for line in Self.instructions(sandboxURL: sandbox.baseURL, serverURL: server.baseURL) { Console.out(line) }
        Console.out("")
        await server.serveUntilTerminated()
        await sandbox.stop()
    }

    /// `--manifest`, `$WXAUTH_MANIFEST` or `./functions.yaml`; the built-in ones when none is given and
    /// there is no `./functions.yaml`.
    private func loadManifest(environment: [String: String]) throws -> Manifest {
        let named = serving.manifestOptions.manifest != nil || !(environment["WXAUTH_MANIFEST"] ?? "").isEmpty
        if !named, !FileManager.default.fileExists(atPath: serving.manifestOptions.url(environment: environment).path) {
            Console.error(
                "local-runner dev: no functions.yaml here; serving the built-in "
                    + Manifest.builtIn.functions.map(\.name).joined(separator: ", ")
            )
            return Manifest.builtIn
        }
        return try serving.manifestOptions.load(environment: environment)
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

    /// The settings `dev` prints, as `NAME=value` lines: app ids, origins, public URL and `return_to`
    /// allow-list; never a secret.
    static func settingLines(_ environment: [String: String]) -> [String] {
        let names = [
            "WECHAT_APPID", "WECHAT_OA_APPID", "WECHAT_WEB_APPID", "WECHAT_API_BASE", "WECHAT_OPEN_BASE",
            "WXAUTH_PUBLIC_URL", "WXAUTH_RETURN_TO",
        ]
        return names.compactMap { name in environment[name].map { "\(name)=\($0)" } }
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
