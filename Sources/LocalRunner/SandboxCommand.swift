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
            Without --app, one development app (\(DevelopmentApp.appID)) is registered with a secret
            generated for this run. Mint a login code with
              curl -X POST URL/sandbox/codes -d '{"appid": "APPID", "user": "alice"}'
            """
    )

    @Option(help: "Port on 127.0.0.1; 0 picks a free one.")
    var port: Int = 0

    @Option(name: .customLong("app"), help: ArgumentHelp("An app to register (repeatable).", valueName: "APPID:SECRET"))
    var apps: [String] = []

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        _ = try parsedApps()
    }

    func run() async throws {
        let given = try parsedApps()
        let registered = given.isEmpty ? [(appid: DevelopmentApp.appID, secret: DevelopmentApp.makeSecret())] : given
        var logger = Logger(label: "sandbox") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .notice
        let server = try await SandboxServer.start(
            host: "127.0.0.1",
            port: port,
            apps: registered.map { SandboxApp(appid: $0.appid, secret: $0.secret) },
            logger: logger
        )
        Console.out("WeChat sandbox listening on \(server.baseURL)")
        if given.isEmpty {
            Console.out("Registered \(DevelopmentApp.appID) with a secret generated for this run (development only):")
        } else {
            Console.out("Registered \(given.map(\.appid).joined(separator: ", ")) (secrets as given with --app).")
        }
        Console.out("")
        Console.out("Paste into your shell:")
        Console.out("export WECHAT_API_BASE=\(server.baseURL)")
        Console.out("export WECHAT_APPID=\(registered[0].appid)")
        if given.isEmpty {
            Console.out("export WECHAT_SECRET=\(registered[0].secret)")
        }
        Console.out("")
        Console.out(
            "Mint a code: curl -s -X POST \(server.baseURL)/sandbox/codes "
                + "-d '{\"appid\": \"\(registered[0].appid)\", \"user\": \"alice\"}'"
        )
        Console.out("Stop with Ctrl-C.")
        _ = await Signals.waitForTermination()
        await server.stop()
    }

    private func parsedApps() throws -> [(appid: String, secret: String)] {
        try apps.map { text in
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex,
                colon != text.index(before: text.endIndex)
            else {
                throw ValidationError("--app takes APPID:SECRET, e.g. --app wxbench:benchsecret")
            }
            return (String(text[..<colon]), String(text[text.index(after: colon)...]))
        }
    }
}
