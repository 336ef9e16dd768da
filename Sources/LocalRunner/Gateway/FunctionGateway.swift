import Foundation
import GatewayHTTP
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Routing, concurrency limits, the event, the invocation and the response mapping.
final class FunctionGateway: Sendable {
    let functions: [FunctionSpec]
    private let routes: [String: [FunctionSpec]]
    private let binDirectory: URL
    private let runnerEnvironment: [String: String]
    private let envFile: EnvironmentFile?
    private let overrides: (@Sendable (FunctionSpec, String) -> [String: String])?
    private let staticPages: [String: StaticPage]
    private let log: @Sendable (String) -> Void
    private let inFlight = Mutex<[String: Int]>([:])
    private let baseURL = Mutex("")
    /// The warm instances, in `--warm` mode; nil runs one process per request.
    let warmPool: WarmPool?

    init(
        manifest: Manifest,
        binDirectory: URL,
        runnerEnvironment: [String: String],
        envFile: EnvironmentFile?,
        overrides: (@Sendable (FunctionSpec, String) -> [String: String])? = nil,
        staticPages: [String: StaticPage] = [:],
        warmPool: WarmPool? = nil,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.staticPages = staticPages
        self.warmPool = warmPool
        functions = manifest.functions
        routes = Dictionary(
            manifest.functions.flatMap { function in function.routes.map { ($0, [function]) } },
            uniquingKeysWith: +
        )
        self.binDirectory = binDirectory
        self.runnerEnvironment = runnerEnvironment
        self.envFile = envFile
        self.overrides = overrides
        self.log = log
    }

    /// Records the origin the server is reachable at, for `overrides`.
    func listening(at url: String) {
        baseURL.withLock { $0 = url }
    }

    /// Requests of `function` running now.
    func running(_ function: String) -> Int {
        inFlight.withLock { $0[function] ?? 0 }
    }

    func respond(to request: Request, sourceIp: String) async -> Response {
        let start = ContinuousClock.now
        let method = request.method.rawValue
        let path = request.uri.path
        let (answer, function, maxResidentBytes) = await answer(
            request,
            method: method,
            path: path,
            sourceIp: sourceIp
        )
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let megabytes = (maxResidentBytes + 1_048_575) / 1_048_576
        log(
            "\(method) \(path) \(answer.status.code) \(String(format: "%.1f", milliseconds))ms "
                + "maxRSS=\(megabytes)MB function=\(function ?? "-")"
        )
        return answer
    }

    private func answer(
        _ request: Request,
        method: String,
        path: String,
        sourceIp: String
    ) async -> (Response, function: String?, maxResidentBytes: Int) {
        if let page = staticPages[path] {
            return (page.response(to: method), nil, 0)
        }
        guard let candidates = routes[path] else { return (GatewayHTTP.notRouted(path), nil, 0) }
        guard let function = candidates.first(where: { $0.methods.contains(method) || $0.methods.contains("ANY") })
        else {
            return (GatewayHTTP.methodNotAllowed(path, allowed: candidates.flatMap(\.methods)), nil, 0)
        }
        guard acquire(function) else {
            var response = GatewayHTTP.error(
                .tooManyRequests,
                "too_many_requests",
                "\(function.name) is already running \(function.concurrency) requests, its concurrency limit"
            )
            response.headers[.retryAfter] = "1"
            return (response, function.name, 0)
        }
        defer { release(function) }

        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: GatewayHTTP.maxBodyBytes)
        } catch {
            return (
                GatewayHTTP.error(.contentTooLarge, "payload_too_large", "the request body exceeds 6 MB"),
                function.name, 0
            )
        }
        let requestID = UUID().uuidString.lowercased()
        let event = HTTPEvent(
            method: method,
            path: path,
            rawQueryString: request.uri.query ?? "",
            headerFields: request.headers.map { (name: $0.name.canonicalName, value: $0.value) },
            body: Array(buffer: body),
            sourceIP: sourceIp,
            requestID: requestID
        )
        let invocation = Invocation(
            function: function,
            binDirectory: binDirectory,
            runnerEnvironment: runnerEnvironment,
            overrides: overrides?(function, baseURL.withLock { $0 }) ?? [:],
            envFile: envFile,
            requestID: requestID
        )
        let relay = LineRelay(prefix: "[\(function.name)] ", log: log)
        if let warmPool {
            return await answerWarm(warmPool, invocation: invocation, event: event.encoded(), relay: relay)
        }
        let result: InvocationResult
        do {
            result = try await invocation.run(event: event.encoded()) { relay.feed($0) }
        } catch {
            relay.finish()
            log("[\(function.name)] local-runner: \(error)")
            return (
                GatewayHTTP.error(.badGateway, "bad_gateway", "the function could not be started"), function.name, 0
            )
        }
        relay.finish()
        let mapped = Self.response(for: result)
        if let problem = mapped.problem {
            log("[\(function.name)] local-runner: \(problem) (request \(requestID))")
        }
        return (mapped.response, function.name, result.outcome.maxResidentBytes)
    }

    /// Runs the invocation on a warm instance of the function, starting one when none is idle.
    private func answerWarm(
        _ pool: WarmPool,
        invocation: Invocation,
        event: [UInt8],
        relay: LineRelay
    ) async -> (Response, function: String?, maxResidentBytes: Int) {
        let function = invocation.function
        let prefix = "[\(function.name)] local-runner:"
        let instance: WarmInstance
        do {
            let checkout = try await pool.checkout(
                function,
                executable: invocation.executable,
                environment: invocation.environment
            ) { relay.feed($0) }
            instance = checkout.instance
            if checkout.started { log("\(prefix) started a warm instance") }
        } catch {
            log("\(prefix) cannot start a runtime API: \(error)")
            return (
                GatewayHTTP.error(.badGateway, "bad_gateway", "the function could not be started"), function.name, 0
            )
        }
        let answer = await instance.invoke(requestID: invocation.requestID, event: event)
        let peak = instance.peakResidentBytes
        let request = "(request \(invocation.requestID))"
        switch answer {
        case .response(let payload):
            pool.checkin(instance)
            let mapped = Self.response(forPayload: payload)
            if let problem = mapped.problem { log("\(prefix) \(problem) \(request)") }
            return (mapped.response, function.name, peak)
        case .functionError(let type, let body):
            // Lambda keeps an instance whose handler reported an error; API Gateway answers 502.
            pool.checkin(instance)
            let text = String(decoding: body.prefix(300), as: UTF8.self)
            log("\(prefix) the function reported an error (\(type ?? "no type")): \(text) \(request)")
            return (GatewayHTTP.error(.badGateway, "bad_gateway", "the function failed"), function.name, peak)
        case .initError(let body):
            await pool.discard(instance)
            log("\(prefix) init error: \(String(decoding: body.prefix(300), as: UTF8.self)) \(request)")
            return (
                GatewayHTTP.error(.badGateway, "bad_gateway", "the function could not initialise"), function.name, peak
            )
        case .timedOut:
            await pool.discard(instance)
            let seconds = Invocation.secondsText(function.timeout)
            log("\(prefix) timed out after \(seconds) s; its warm instance was stopped \(request)")
            return (
                GatewayHTTP.error(
                    .gatewayTimeout,
                    "gateway_timeout",
                    "the function did not answer within \(seconds) s"
                ),
                function.name, peak
            )
        case .exited:
            let outcome = await instance.outcome
            await pool.discard(instance)
            switch outcome {
            case .failure(let error):
                log("\(prefix) \(error) \(request)")
                return (
                    GatewayHTTP.error(.badGateway, "bad_gateway", "the function could not be started"), function.name, 0
                )
            case .success(let ended):
                let result = InvocationResult(function: function, requestID: invocation.requestID, outcome: ended)
                let mapped =
                    ended.termination == .exited(0)
                    ? (
                        GatewayHTTP.error(.badGateway, "bad_gateway", "the function crashed"),
                        "exited without answering"
                    )
                    : Self.response(for: result)
                log("\(prefix) warm instance \(mapped.problem ?? "ended") \(request)")
                return (mapped.response, function.name, max(peak, ended.maxResidentBytes))
            }
        }
    }

    private func acquire(_ function: FunctionSpec) -> Bool {
        inFlight.withLock { counts in
            let running = counts[function.name] ?? 0
            guard running < function.concurrency else { return false }
            counts[function.name] = running + 1
            return true
        }
    }

    private func release(_ function: FunctionSpec) {
        inFlight.withLock { $0[function.name] = ($0[function.name] ?? 1) - 1 }
    }
}
