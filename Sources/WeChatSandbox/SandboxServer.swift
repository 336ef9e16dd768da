import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A running WeChat API emulator: the WeChat endpoints at WeChat's paths, the web authorisation pages
/// (`/connect/oauth2/authorize`, `/connect/qrconnect`), plus a control API under `/sandbox/` to register
/// apps, mint codes and inject faults.
///
/// ```swift
/// let sandbox = try await SandboxServer.start(apps: [SandboxApp(appid: "wx1", secret: "s1")])
/// // point WECHAT_API_BASE at sandbox.baseURL
/// await sandbox.stop()
/// ```
public final class SandboxServer: Sendable {
    /// The port the server listens on.
    public let port: Int
    /// The origin to reach it at, e.g. `http://127.0.0.1:54321`.
    public let baseURL: String

    private let serviceGroup: ServiceGroup
    private let running: Task<Void, any Error>
    private let logger: Logger

    private init(
        port: Int,
        baseURL: String,
        serviceGroup: ServiceGroup,
        running: Task<Void, any Error>,
        logger: Logger
    ) {
        self.port = port
        self.baseURL = baseURL
        self.serviceGroup = serviceGroup
        self.running = running
        self.logger = logger
    }

    /// Starts serving on `host`:`port` (port 0 lets the OS pick); returns once it is listening.
    ///
    /// - Parameters:
    ///   - apps: apps registered from the start (more can be added with `POST /sandbox/apps`).
    ///   - clock: the time against which code lifetimes run; inject a ``ManualSandboxClock`` in tests.
    public static func start(
        host: String = "127.0.0.1",
        port: Int = 0,
        apps: [SandboxApp] = [],
        clock: any SandboxClock = SystemSandboxClock(),
        logger: Logger = Logger(label: "wechat-sandbox")
    ) async throws -> SandboxServer {
        let state = SandboxState(clock: clock, apps: apps)
        let (boundPorts, boundPort) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: makeRouter(state: state),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
            onServerRunning: { channel in
                boundPort.yield(channel.localAddress?.port ?? port)
                boundPort.finish()
            },
            logger: logger
        )
        // Signals are left to the caller (a CLI installs its own handling and calls stop()).
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [], logger: logger)
        )
        let running = Task {
            // If binding fails the group throws before the server runs; finishing the stream
            // lets start() see that instead of waiting forever.
            defer { boundPort.finish() }
            try await serviceGroup.run()
        }
        var ports = boundPorts.makeAsyncIterator()
        guard let bound = await ports.next() else {
            try await running.value
            throw SandboxServerError.stoppedBeforeListening
        }
        let server = SandboxServer(
            port: bound,
            baseURL: "http://\(urlHost(host)):\(bound)",
            serviceGroup: serviceGroup,
            running: running,
            logger: logger
        )
        logger.info("WeChat sandbox listening", metadata: ["sandbox.url": "\(server.baseURL)"])
        return server
    }

    /// Stops accepting connections, lets requests in flight finish, and returns once stopped.
    public func stop() async {
        await self.serviceGroup.triggerGracefulShutdown()
        await self.waitUntilStopped()
    }

    /// Returns when the server has stopped, for a CLI that serves until it is told to stop.
    public func waitUntilStopped() async {
        if case .failure(let error) = await self.running.result {
            self.logger.error("WeChat sandbox stopped with an error", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Wiring

    static func makeRouter(state: SandboxState) -> Router<SandboxRequestContext> {
        let router = Router(context: SandboxRequestContext.self)
        // Added first, so it also wraps the router's not-found answer.
        router.add(middleware: UnknownPathMiddleware())
        for endpoint in WeChatEndpoint.all {
            for method in endpoint.methods {
                router.on(RouterPath(endpoint.path), method: method) { request, context in
                    try await endpoint.respond(to: request, context: context, state: state)
                }
            }
        }
        AuthorizePages.register(on: router, state: state)
        ControlAPI.register(on: router, state: state)
        return router
    }

    /// The host as it appears in a URL: a wildcard bind is reached on loopback; IPv6 is bracketed.
    private static func urlHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::": "[::1]"
        default: host.contains(":") ? "[\(host)]" : host
        }
    }
}

/// Why a sandbox could not start.
public struct SandboxServerError: Error, CustomStringConvertible {
    private let message: String

    /// The server stopped before it reported a listening socket.
    public static let stoppedBeforeListening = SandboxServerError(
        message: "the sandbox stopped before it was listening"
    )

    public var description: String { self.message }
}
