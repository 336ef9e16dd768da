import Foundation
import GatewayHTTP
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `serve`'s HTTP server: every manifest function behind its route, one process per request, as
/// API Gateway (HTTP API, payload v2.0) in front of Lambda would run them.
///
/// ```swift
/// let server = try await FunctionServer.start(manifest: manifest, binDirectory: bin, runnerEnvironment: env)
/// // requests to server.baseURL + "/login" …
/// await server.stop()
/// ```
public final class FunctionServer: Sendable {
    /// The port the server listens on.
    public let port: Int
    /// The origin to reach it at, e.g. `http://127.0.0.1:54321`.
    public let baseURL: String

    let gateway: FunctionGateway
    private let application: ListeningApplication

    private init(port: Int, baseURL: String, gateway: FunctionGateway, application: ListeningApplication) {
        self.port = port
        self.baseURL = baseURL
        self.gateway = gateway
        self.application = application
    }

    /// Starts serving on `host`:`port` (port 0 lets the OS pick); returns once it is listening.
    ///
    /// - Parameters:
    ///   - runnerEnvironment: supplies PATH, HOME, LANG and TZ to the functions, as `invoke` does.
    ///   - envFile: applied over the manifest's environment of every function.
    ///   - overrides: variables applied over each function's manifest environment (before `envFile`),
    ///     computed from the function and the server's own base URL once it is listening; an empty
    ///     value unsets the variable. `dev` uses it to point the functions at the sandbox.
    ///   - log: receives the runner's log lines (one per request, and the functions' stderr lines);
    ///     stderr when nil.
    ///   - warm: keep function processes running between requests (their AWS Lambda runtime loop, fed
    ///     through a runtime API per process) instead of one process per request.
    ///   - staticPages: fixed answers to `GET` and `HEAD` by exact path, served by the runner itself and
    ///     checked before the manifest's routes; `dev` serves its demo page at `/` this way.
    public static func start(
        manifest: Manifest,
        binDirectory: URL,
        runnerEnvironment: [String: String],
        envFile: EnvironmentFile? = nil,
        overrides: (@Sendable (_ function: FunctionSpec, _ baseURL: String) -> [String: String])? = nil,
        host: String = "127.0.0.1",
        port: Int = 0,
        warm: Bool = false,
        staticPages: [String: StaticPage] = [:],
        log: (@Sendable (String) -> Void)? = nil
    ) async throws -> FunctionServer {
        let gateway = FunctionGateway(
            manifest: manifest,
            binDirectory: binDirectory,
            runnerEnvironment: runnerEnvironment,
            envFile: envFile,
            overrides: overrides,
            staticPages: staticPages,
            warmPool: warm ? WarmPool() : nil,
            log: log ?? { Console.error($0) }
        )
        let urlHost = host.contains(":") ? "[\(host)]" : (host == "0.0.0.0" ? "127.0.0.1" : host)
        var logger = Logger(label: "local-runner.serve") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let application = try await ListeningApplication.start(name: "the server on \(host):\(port)", logger: logger) {
            onServerRunning in
            Application(
                responder: CallbackResponder<ClientAddressContext> { request, context in
                    await gateway.respond(to: request, sourceIp: context.sourceIp)
                },
                configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
                onServerRunning: { channel in
                    gateway.listening(at: "http://\(urlHost):\(channel.localAddress?.port ?? port)")
                    await onServerRunning(channel)
                },
                logger: logger
            )
        }
        return FunctionServer(
            port: application.port,
            baseURL: "http://\(urlHost):\(application.port)",
            gateway: gateway,
            application: application
        )
    }

    /// What `serve` and `dev` print about the server: how many functions it serves where, one
    /// `METHOD PATH -> FUNCTION` line per route and method in manifest order, and how functions run (the process
    /// mode and how their memory limit is enforced).
    public var summaryLines: [String] {
        let count = gateway.functions.count
        let routes = gateway.functions.flatMap { function in
            function.methods.flatMap { method in
                function.routes.map {
                    "  \(method.padding(toLength: 7, withPad: " ", startingAt: 0)) \($0)  -> \(function.name)"
                }
            }
        }
        return ["Serving \(count) function\(count == 1 ? "" : "s") on \(baseURL)"] + routes + [
            gateway.warmPool != nil
                ? "Mode: warm (a process per function stays up between requests, fed by its runtime API)"
                : "Mode: one process per request",
            "Memory: \(MemoryCgroup.enforcement)",
        ]
    }

    /// Serves until SIGINT or SIGTERM, then stops as ``stop()`` does, saying so on stderr.
    public func serveUntilTerminated() async {
        Console.out("Stop with Ctrl-C.")
        _ = await Signals.waitForTermination()
        Console.error("local-runner: stopping; letting requests in flight finish")
        await stop()
    }

    /// Stops accepting connections, lets requests in flight finish, and returns once stopped.
    public func stop() async {
        await application.stop()
        await gateway.warmPool?.shutdown()
    }
}

/// Why the server could not start.
public struct FunctionServerError: Error, CustomStringConvertible {
    public var description: String
}

extension FunctionServer {
    /// Warns on stderr about functions whose executable is not built: their routes would answer 502.
    static func warnAboutUnbuiltHandlers(_ manifest: Manifest, environment: [String: String]) {
        let binDirectory = Invocation.binDirectory(environment: environment)
        let missing = manifest.functions.filter {
            !FileManager.default.isExecutableFile(atPath: binDirectory.appendingPathComponent($0.handler).path)
        }
        guard !missing.isEmpty else { return }
        Console.error(
            "local-runner: warning: "
                + Invocation.missingHandlersAdvice(missing.map(\.handler), binDirectory: binDirectory)
                + "; their routes answer 502"
        )
    }
}
