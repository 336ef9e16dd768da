import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A Hummingbird application running in its own service group, known to be listening: the shared start
/// and stop of `serve`'s gateway and of each warm instance's runtime API.
struct ListeningApplication: Sendable {
    /// The port the OS gave (or the one asked for).
    let port: Int
    private let serviceGroup: ServiceGroup
    private let running: Task<Void, any Error>

    /// Builds the application with `make` (which must pass the given callback as `onServerRunning`),
    /// runs it, and returns once it listens; `name` names it in the error when it stops before that.
    static func start<App: ApplicationProtocol>(
        name: String,
        logger: Logger,
        make: (_ onServerRunning: @escaping @Sendable (any Channel) async -> Void) -> App
    ) async throws -> ListeningApplication {
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = make { channel in
            portSink.yield(channel.localAddress?.port ?? 0)
            portSink.finish()
        }
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [], logger: logger)
        )
        let running = Task {
            defer { portSink.finish() }
            try await serviceGroup.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            try await running.value
            throw FunctionServerError(description: "\(name) stopped before it was listening")
        }
        return ListeningApplication(port: port, serviceGroup: serviceGroup, running: running)
    }

    /// Stops accepting connections, lets requests in flight finish, and returns once stopped.
    func stop() async {
        await serviceGroup.triggerGracefulShutdown()
        _ = await running.result
    }
}

/// The line a command prints when it cannot listen: the system's reason in words, and what to do about a port
/// that is taken (NIO's own description reads `bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)`).
func cannotListenMessage(command: String, host: String, port: Int, error: any Error) -> String {
    let reason: String
    var hint = ""
    if let error = error as? IOError {
        reason = String(cString: strerror(error.errnoCode))
        if error.errnoCode == EADDRINUSE {
            hint = " (another process is listening there; choose another with --port, or --port 0 for any free port)"
        } else if error.errnoCode == EACCES {
            hint = " (ports below 1024 need privileges; use a higher --port, or --port 0 for any free port)"
        }
    } else {
        reason = "\(error)"
    }
    return "\(command): cannot listen on \(host):\(port): \(reason)\(hint)"
}
