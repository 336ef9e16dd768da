import Foundation
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
                responder: CallbackResponder<ServeRequestContext> { request, context in
                    await gateway.respond(to: request, remoteAddress: context.remoteAddress)
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

    /// The routes served, one `METHOD PATH -> FUNCTION` per method, in manifest order.
    public var routeLines: [String] {
        gateway.functions.flatMap { function in
            function.methods.flatMap { method in
                function.routes.map { "  \(method.padding(toLength: 7, withPad: " ", startingAt: 0)) \($0)  -> \(function.name)" }
            }
        }
    }

    /// How functions run: the process mode and how their memory limit is enforced.
    public var modeLines: [String] {
        [
            gateway.warmPool != nil
                ? "Mode: warm (a process per function stays up between requests, fed by its runtime API)"
                : "Mode: one process per request",
            "Memory: \(MemoryCgroup.enforcement)",
        ]
    }

    /// Stops accepting connections, lets requests in flight finish, and returns once stopped.
    public func stop() async {
        await application.stop()
        await gateway.warmPool?.shutdown()
    }
}

/// A fixed page the runner answers itself, without a function: its media type, body and any extra headers.
/// Every answer also has `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.
public struct StaticPage: Sendable {
    /// The `Content-Type`, e.g. `text/html; charset=utf-8`.
    public var contentType: String
    /// The body, sent as UTF-8.
    public var body: String
    /// More headers, e.g. a `Content-Security-Policy`.
    public var headers: [String: String]

    /// Creates a page.
    public init(contentType: String, body: String, headers: [String: String] = [:]) {
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }
}

/// Why the server could not start.
public struct FunctionServerError: Error, CustomStringConvertible {
    public var description: String
}

/// The request context: Hummingbird's core plus the client's address, for `sourceIp`.
struct ServeRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

// MARK: - Gateway

/// Routing, concurrency limits, the event, the invocation and the response mapping.
final class FunctionGateway: Sendable {
    /// Lambda's limit on an invocation payload; a bigger request body is answered 413.
    static let maxBodyBytes = 6 * 1024 * 1024

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
            manifest.functions.flatMap { function in function.routes.map { ($0, [function]) } }, uniquingKeysWith: +
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

    func respond(to request: Request, remoteAddress: SocketAddress?) async -> Response {
        let start = ContinuousClock.now
        let method = request.method.rawValue
        let path = request.uri.path
        let (answer, function, maxResidentBytes) = await answer(
            request, method: method, path: path, remoteAddress: remoteAddress)
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
        remoteAddress: SocketAddress?
    ) async -> (Response, function: String?, maxResidentBytes: Int) {
        if let page = staticPages[path] {
            return (Self.response(for: page, method: method), nil, 0)
        }
        guard let candidates = routes[path] else {
            return (Self.error(.notFound, "not_found", "no function is routed at \(path)"), nil, 0)
        }
        guard let function = candidates.first(where: { $0.methods.contains(method) || $0.methods.contains("ANY") })
        else {
            let allowed = Array(Set(candidates.flatMap(\.methods))).sorted().joined(separator: ", ")
            var response = Self.error(.methodNotAllowed, "method_not_allowed", "\(path) accepts \(allowed)")
            response.headers[.allow] = allowed
            return (response, nil, 0)
        }
        guard acquire(function) else {
            var response = Self.error(
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
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            return (
                Self.error(.contentTooLarge, "payload_too_large", "the request body exceeds 6 MB"),
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
            sourceIP: remoteAddress?.ipAddress ?? "127.0.0.1",
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
            return (Self.error(.badGateway, "bad_gateway", "the function could not be started"), function.name, 0)
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
        _ pool: WarmPool, invocation: Invocation, event: [UInt8], relay: LineRelay
    ) async -> (Response, function: String?, maxResidentBytes: Int) {
        let function = invocation.function
        let prefix = "[\(function.name)] local-runner:"
        let instance: WarmInstance
        do {
            let checkout = try await pool.checkout(
                function, executable: invocation.executable, environment: invocation.environment
            ) { relay.feed($0) }
            instance = checkout.instance
            if checkout.started { log("\(prefix) started a warm instance") }
        } catch {
            log("\(prefix) cannot start a runtime API: \(error)")
            return (Self.error(.badGateway, "bad_gateway", "the function could not be started"), function.name, 0)
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
            return (Self.error(.badGateway, "bad_gateway", "the function failed"), function.name, peak)
        case .initError(let body):
            await pool.discard(instance)
            log("\(prefix) init error: \(String(decoding: body.prefix(300), as: UTF8.self)) \(request)")
            return (Self.error(.badGateway, "bad_gateway", "the function could not initialise"), function.name, peak)
        case .timedOut:
            await pool.discard(instance)
            let seconds = Invocation.secondsText(function.timeout)
            log("\(prefix) timed out after \(seconds) s; its warm instance was stopped \(request)")
            return (
                Self.error(.gatewayTimeout, "gateway_timeout", "the function did not answer within \(seconds) s"),
                function.name, peak
            )
        case .exited:
            let outcome = await instance.outcome
            await pool.discard(instance)
            switch outcome {
            case .failure(let error):
                log("\(prefix) \(error) \(request)")
                return (Self.error(.badGateway, "bad_gateway", "the function could not be started"), function.name, 0)
            case .success(let ended):
                let result = InvocationResult(function: function, requestID: invocation.requestID, outcome: ended)
                let mapped =
                    ended.termination == .exited(0)
                    ? (Self.error(.badGateway, "bad_gateway", "the function crashed"), "exited without answering")
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

    // MARK: Response mapping

    /// The HTTP response for a finished invocation, and what went wrong when the platform answers instead.
    static func response(for result: InvocationResult) -> (response: Response, problem: String?) {
        switch result.outcome.termination {
        case .timedOut:
            let seconds = Invocation.secondsText(result.function.timeout)
            return (error(.gatewayTimeout, "gateway_timeout", "the function did not answer within \(seconds) s"), result.problem)
        case .cancelled:
            return (error(.badGateway, "bad_gateway", "the invocation was interrupted"), result.problem)
        case .outOfMemory:
            return (error(.badGateway, "bad_gateway", "the function exceeded its memory size"), result.problem)
        case .signaled, .exited(1...), .exited(...(-1)):
            return (error(.badGateway, "bad_gateway", "the function crashed"), result.problem)
        case .exited:
            return response(forPayload: result.outcome.stdout)
        }
    }

    /// The HTTP response for what a function answered (its stdout, or the body it posted to the runtime
    /// API), mapped as API Gateway maps a Lambda proxy response of payload version 2.0.
    static func response(forPayload stdout: [UInt8]) -> (response: Response, problem: String?) {
        let invalid = { (why: String) -> (Response, String?) in
            let preview = String(decoding: stdout.prefix(200), as: UTF8.self)
            return (
                error(.badGateway, "bad_gateway", "the function returned an invalid response"),
                "invalid response: \(why)" + (preview.isEmpty ? " (stdout was empty)" : ": \(preview)")
            )
        }
        guard let value = try? JSONSerialization.jsonObject(with: Data(stdout), options: [.fragmentsAllowed]) else {
            return invalid("stdout is not JSON")
        }
        guard let object = value as? [String: Any], let rawStatus = object["statusCode"] else {
            // API Gateway's v2.0 rule: valid JSON without a statusCode is the body of a 200.
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            let trimmed = String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return (Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: trimmed))), nil)
        }
        guard let number = rawStatus as? NSNumber, !(number is Bool),
            number.doubleValue == number.doubleValue.rounded(),
            (100...599).contains(number.intValue)
        else {
            return invalid("statusCode is not an HTTP status")
        }
        var headers = HTTPFields()
        if let rawHeaders = object["headers"] {
            guard let map = rawHeaders as? [String: Any] else { return invalid("headers is not an object") }
            for (name, rawValue) in map.sorted(by: { $0.key < $1.key }) {
                guard let fieldName = HTTPField.Name(name) else { return invalid("'\(name)' is not a header name") }
                if [.contentLength, .transferEncoding, .connection].contains(fieldName) { continue }
                let text: String
                switch rawValue {
                case let string as String: text = string
                case let number as NSNumber: text = number.stringValue
                default: return invalid("header '\(name)' is not a string")
                }
                headers.append(HTTPField(name: fieldName, value: text))
            }
        }
        if let rawCookies = object["cookies"] {
            guard let cookies = rawCookies as? [String] else { return invalid("cookies is not a list of strings") }
            for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        }
        var body: [UInt8] = []
        if let rawBody = object["body"], !(rawBody is NSNull) {
            guard let text = rawBody as? String else { return invalid("body is not a string") }
            if (object["isBase64Encoded"] as? Bool) == true {
                guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                    return invalid("body is not base64 though isBase64Encoded is true")
                }
                body = Array(data)
            } else {
                body = Array(text.utf8)
            }
        }
        let status = HTTPResponse.Status(code: number.intValue)
        return (Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body))), nil)
    }

    /// A static page's answer: the page to `GET`, its headers to `HEAD`, 405 to any other method.
    static func response(for page: StaticPage, method: String) -> Response {
        guard method == "GET" || method == "HEAD" else {
            var response = error(.methodNotAllowed, "method_not_allowed", "this page accepts GET, HEAD")
            response.headers[.allow] = "GET, HEAD"
            return response
        }
        var headers = HTTPFields()
        headers[.contentType] = page.contentType
        headers[.cacheControl] = "no-store"
        headers[.xContentTypeOptions] = "nosniff"
        for (name, value) in page.headers.sorted(by: { $0.key < $1.key }) {
            if let fieldName = HTTPField.Name(name) { headers[fieldName] = value }
        }
        let body = ByteBuffer(string: method == "HEAD" ? "" : page.body)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// A platform error: `{"error", "error_description"}` as JSON.
    static func error(_ status: HTTPResponse.Status, _ code: String, _ description: String) -> Response {
        let object = ["error": code, "error_description": description]
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns a function's stderr chunks into whole lines, each passed on with the function's name in front.
final class LineRelay: Sendable {
    private let prefix: String
    private let log: @Sendable (String) -> Void
    private let pending = Mutex<[UInt8]>([])

    init(prefix: String, log: @escaping @Sendable (String) -> Void) {
        self.prefix = prefix
        self.log = log
    }

    func feed(_ chunk: [UInt8]) {
        let lines: [String] = pending.withLock { buffer in
            buffer += chunk
            var lines: [String] = []
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: buffer[..<newline], as: UTF8.self))
                buffer.removeSubrange(...newline)
            }
            return lines
        }
        for line in lines { log(prefix + line) }
    }

    func finish() {
        let rest = pending.withLock { buffer in
            defer { buffer.removeAll() }
            return buffer
        }
        if !rest.isEmpty { log(prefix + String(decoding: rest, as: UTF8.self)) }
    }
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
