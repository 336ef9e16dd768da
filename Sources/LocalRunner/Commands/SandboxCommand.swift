import ArgumentParser
import Foundation
import Logging
import WeChatSandbox

/// `local-runner sandbox`: the WeChat API emulator alone, until SIGINT or SIGTERM.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run the WeChat API emulator on 127.0.0.1.",
        discussion: """
            Without --app, three development apps are registered, each with a secret generated
            for this run: the mini-program \(DevelopmentApp.appID), the official account
            \(DevelopmentApp.officialAccountID) and the website app \(DevelopmentApp.websiteID).
            --app APPID:SECRET registers a mini-program; APPID:SECRET:oa an official account and
            APPID:SECRET:web a website app. Mint a login code with
              curl -X POST URL/sandbox/codes -d '{"appid": "APPID", "user": "alice"}'
            Web sign-in starts at URL/connect/qrconnect (website app) or
            URL/connect/oauth2/authorize (official account), a consent page.
            """
    )

    @Option(help: "Port on 127.0.0.1; 0 picks a free one.")
    var port: Int = 0

    @Option(
        name: .customLong("app"),
        help: ArgumentHelp(
            "An app to register (repeatable); kind mini (default), oa or web.",
            valueName: "APPID:SECRET[:KIND]"
        )
    )
    var apps: [String] = []

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        _ = try parsedApps()
    }

    func run() async throws {
        let given = try parsedApps()
        let registered = given.isEmpty ? DevelopmentApp.makeApps() : given
        var logger = Logger(label: "sandbox") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .notice
        let server = try await SandboxServer.start(host: "127.0.0.1", port: port, apps: registered, logger: logger)
        Console.out("WeChat sandbox listening on \(server.baseURL)")
        for app in registered {
            Console.out("  \(app.appid)  \(app.kind.title)")
        }
        Console.out(
            given.isEmpty
                ? "Secrets generated for this run (development only)."
                : "Secrets as given with --app."
        )
        Console.out("")
        Console.out("Paste into your shell:")
        let variables = DevelopmentApp.environment(apps: registered, sandboxURL: server.baseURL)
        for name in DevelopmentApp.variableNames where !name.hasSuffix("_FILE") {
            guard let value = variables[name], given.isEmpty || !name.hasSuffix("_SECRET") else { continue }
            Console.out("export \(name)=\(value)")
        }
        Console.out("")
        if let mini = registered.first(where: { $0.kind == .miniProgram }) {
            Console.out(
                "Mint a code: curl -s -X POST \(server.baseURL)/sandbox/codes "
                    + "-d '{\"appid\": \"\(mini.appid)\", \"user\": \"alice\"}'"
            )
        }
        Console.out("Stop with Ctrl-C.")
        _ = await Signals.waitForTermination()
        await server.stop()
    }

    /// The `--app` values: `APPID:SECRET` for a mini-program, `APPID:SECRET:oa` or `APPID:SECRET:web`
    /// (also `:mini`) for the other kinds. The secret may contain colons.
    private func parsedApps() throws -> [SandboxApp] {
        try apps.map { text in
            var rest = Substring(text)
            var kind = SandboxApp.Kind.miniProgram
            if let last = rest.lastIndex(of: ":"),
                let named = SandboxApp.Kind(rawValue: String(rest[rest.index(after: last)...]))
            {
                kind = named
                rest = rest[..<last]
            }
            guard let colon = rest.firstIndex(of: ":"), colon != rest.startIndex,
                colon != rest.index(before: rest.endIndex)
            else {
                throw ValidationError("--app takes APPID:SECRET[:mini|oa|web], e.g. --app wxbench:benchsecret")
            }
            let secret = String(rest[rest.index(after: colon)...])
            return SandboxApp(appid: String(rest[..<colon]), secret: secret, kind: kind)
        }
    }
}
