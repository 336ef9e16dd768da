import FunctionRuntime
import GatewayHTTP
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import WXAuth
import WXAuthPostgres
import WeChatHTTP

/// Linked with the PostgreSQL store itself, so there is no hand-off: one process, one set of warm services per
/// function, many requests at once.
enum HTTPServing {
    /// Serves `names` on 0.0.0.0:`port` until SIGTERM or SIGINT, then lets the requests in flight finish;
    /// returns the exit status.
    static func serve(_ names: [Functions.Name], port: Int, environment: [String: String]) async -> Int32 {
        let logger = Logger(label: "wxauth-http")
        let router = await router(for: names, environment: environment, logger: logger)
        let application = Application(
            responder: CallbackResponder<ClientAddressContext> { request, context in
                await router.respond(to: request, sourceIp: context.sourceIp)
            },
            configuration: ApplicationConfiguration(address: .hostname("0.0.0.0", port: port), serverName: nil),
            onServerRunning: { channel in
                // Supervisors and tests read the port from this line (PORT=0 asks the OS for one).
                logger.info(
                    "listening",
                    metadata: ["port": "\(channel.localAddress?.port ?? port)", "routes": "\(router.routes.count)"]
                )
            },
            logger: quietLogger(logger)
        )
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [application],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: quietLogger(logger)
            )
        )
        do {
            try await services.run()
        } catch {
            logger.critical("the server failed", metadata: ["error": "\(error)"])
            return 1
        }
        logger.info("stopped")
        return 0
    }

    /// Every route of `names`, each function built and warmed up once, as a warm Lambda instance is. A function
    /// whose warm-up fails is still served: its requests get the same 500 naming the setting as on stdin.
    static func router(
        for names: [Functions.Name],
        environment: [String: String],
        logger: Logger
    ) async -> FunctionRouter {
        var routes: [String: FunctionRouter.Route] = [:]
        for name in names {
            var functionLogger = logger
            functionLogger[metadataKey: "function"] = .string(name.rawValue)
            let harness = FunctionHarness(
                functionName: name.rawValue,
                timeout: ProcessEnvironment.timeout(environment: environment, settings: .wxauth),
                logger: functionLogger
            )
            let definition = Functions.definition(
                name,
                environment: environment,
                weChatTransport: WireTransport(),
                postgres: PostgresStore.opener
            )
            do {
                try await definition.warmUp?(functionLogger)
            } catch {
                functionLogger.error("initialisation failed", metadata: ["error": "\(error)"])
            }
            for (path, methods) in name.routes {
                routes[path] = FunctionRouter.Route(methods: methods, harness: harness, handler: definition.handler)
            }
        }
        return FunctionRouter(routes: routes)
    }

    /// Hummingbird's and ServiceLifecycle's own logs, warnings and worse only: the functions log every request.
    static func quietLogger(_ logger: Logger) -> Logger {
        var quiet = logger
        quiet.logLevel = .warning
        return quiet
    }
}
