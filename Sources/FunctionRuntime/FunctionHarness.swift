import Encodings
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A function's business: one request in, one response out. Errors thrown become a 500 `server_error`.
public typealias FunctionHandler = @Sendable (FunctionRequest, FunctionContext) async throws -> FunctionResponse

/// Runs a ``FunctionHandler`` as a FaaS process: bytes in, exactly one JSON response out.
///
/// The bytes core (``respond(to:handler:)``) never fails: every byte sequence gets a response. The process
/// entry point (``runProcess(handler:)``) reads stdin, writes stdout and exits 0.
public struct FunctionHarness: Sendable {
    /// The function's name, for logs.
    public var functionName: String
    /// The largest event accepted (Lambda's synchronous payload limit).
    public var maxEventBytes: Int
    /// The largest decoded request body accepted.
    public var maxBodyBytes: Int
    /// How long the platform gives one invocation.
    public var timeout: Duration
    /// The logger new requests log through.
    public var logger: Logger

    public init(
        functionName: String,
        maxEventBytes: Int = 6 * 1024 * 1024,
        maxBodyBytes: Int = 64 * 1024,
        timeout: Duration = .seconds(10),
        logger: Logger? = nil
    ) {
        self.functionName = functionName
        self.maxEventBytes = maxEventBytes
        self.maxBodyBytes = maxBodyBytes
        self.timeout = timeout
        self.logger = logger ?? Logger(label: functionName)
    }

    /// Answers one raw event with one encoded response, whatever the bytes.
    public func respond(
        to event: [UInt8]?,
        startedAt: ContinuousClock.Instant = .now,
        deadline: ContinuousClock.Instant? = nil,
        handler: FunctionHandler
    ) async -> [UInt8] {
        let response = await response(to: event, startedAt: startedAt, deadline: deadline, handler: handler)
        return Self.encode(response)
    }

    /// Answers one raw event (nil when it was over ``maxEventBytes``) with a typed response. Without a
    /// `deadline`, the invocation may last ``timeout`` from `startedAt`. An event without a request id of its
    /// own gets `fallbackRequestId` (the platform's), else a random one. Ends with one Embedded Metric Format
    /// line on stderr: `Duration` and what the handler counted in ``InvocationMetrics/current``.
    public func response(
        to event: [UInt8]?,
        startedAt: ContinuousClock.Instant = .now,
        deadline: ContinuousClock.Instant? = nil,
        fallbackRequestId: String? = nil,
        handler: FunctionHandler
    ) async -> FunctionResponse {
        let metrics = InvocationMetrics()
        let (response, requestId) = await InvocationMetrics.$current.withValue(metrics) {
            await answer(
                event,
                startedAt: startedAt,
                deadline: deadline,
                fallbackRequestId: fallbackRequestId,
                handler: handler
            )
        }
        let elapsed = ContinuousClock.now - startedAt
        let (seconds, attoseconds) = elapsed.components
        metrics.add("Duration", Double(seconds) * 1000 + Double(attoseconds) / 1e15, unit: .milliseconds)
        StandardStreams.writeAll(
            metrics.embeddedMetricFormat(
                namespace: "wxauth",
                function: functionName,
                requestId: requestId,
                timestampMilliseconds: WallClock.nowMilliseconds()
            ),
            to: 2
        )
        return response
    }

    /// The response to one raw event, and the request id it was answered under.
    private func answer(
        _ event: [UInt8]?,
        startedAt: ContinuousClock.Instant,
        deadline: ContinuousClock.Instant?,
        fallbackRequestId: String?,
        handler: FunctionHandler
    ) async -> (FunctionResponse, requestId: String) {
        var logger = self.logger
        let fallbackId = fallbackRequestId.flatMap { $0.isEmpty ? nil : $0 } ?? Self.randomRequestId()
        guard let event else {
            logger[metadataKey: "request_id"] = .string(fallbackId)
            logger.info("event refused", metadata: ["status": "413"])
            return (
                .error(413, code: "invalid_request", description: "the event exceeds \(maxEventBytes) bytes"),
                fallbackId
            )
        }
        let request: FunctionRequest
        do {
            request = try APIGatewayEvent.decode(event).request(
                maxBodyBytes: maxBodyBytes,
                fallbackRequestId: fallbackId
            )
        } catch {
            logger[metadataKey: "request_id"] = .string(fallbackId)
            logger.info("event refused", metadata: ["status": "\(error.status)", "reason": "\(error.description)"])
            return (.error(error.status, code: "invalid_request", description: error.description), fallbackId)
        }
        logger[metadataKey: "request_id"] = .string(request.requestId)
        // Stop a little early, so a 503 still reaches the caller before the platform gives up.
        let end = deadline ?? (startedAt + timeout)
        let margin = min(Duration.milliseconds(500), (end - startedAt) / 10)
        let context = FunctionContext(functionName: functionName, logger: logger, deadline: end - margin)
        let response: FunctionResponse
        do {
            response = try await handler(request, context)
        } catch {
            // The error's own text may carry details not meant for callers; its type is enough to find it.
            logger.error("unhandled error", metadata: ["error_type": "\(type(of: error))"])
            response = .error(500, code: "server_error", description: "internal error")
        }
        let elapsed = ContinuousClock.now - startedAt
        logger.info(
            "request done",
            metadata: [
                "method": "\(request.method)", "path": "\(request.path)", "status": "\(response.statusCode)",
                "duration_ms": "\(Self.milliseconds(elapsed))",
            ]
        )
        return (response, request.requestId)
    }

    /// Encodes a response; falls back to a fixed 500 body should encoding ever fail.
    public static func encode(_ response: FunctionResponse) -> [UInt8] {
        if let bytes = try? JSONCoding.encode(response) { return bytes }
        return Array(
            #"{"statusCode":500,"headers":{"content-type":"application/json"},"body":"{\"error\":\"server_error\",\"error_description\":\"internal error\"}","isBase64Encoded":false}"#
                .utf8
        )
    }

    /// The process entry point: stdin → handler → stdout, then exit status 0.
    public func runProcess(handler: FunctionHandler) async -> Never {
        let started = ContinuousClock.now
        let event = StandardStreams.readAll(from: 0, limit: maxEventBytes)
        let bytes = await respond(to: event, startedAt: started, handler: handler)
        StandardStreams.writeAll(bytes, to: 1)
        StandardStreams.writeAll([0x0A], to: 1)
        exit(0)
    }

    package static func randomRequestId() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return Hex.encode(fixedWidth: high) + Hex.encode(fixedWidth: low)
    }

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        // Clamped so the multiplication cannot overflow whatever the duration (a day is plenty for a log line).
        let micros = min(max(seconds, 0), 86_400) * 1_000_000 + max(attoseconds, 0) / 1_000_000_000_000
        return "\(micros / 1000).\(String(repeating: "0", count: 3 - String(micros % 1000).count))\(micros % 1000)"
    }
}

// MARK: - Process environment

/// The process environment, read without Foundation.
public enum ProcessEnvironment {
    /// Every variable of the running process.
    public static func current() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// Sets up process-wide behaviour every function wants: JSON logs on stderr, at the level the first of
    /// `settings`' log-level variables names, and no death by SIGPIPE.
    public static func bootstrap(environment: [String: String], settings: HarnessSettings) {
        signal(SIGPIPE, SIG_IGN)
        let level =
            settings.logLevelVariables.lazy
            .compactMap { environment[$0].flatMap(JSONLogHandler.level(named:)) }.first ?? .info
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
    }

    /// The invocation timeout in `settings`' timeout variable (seconds), default 10 s. A value out of range also
    /// gets the default here; the function's own configuration should refuse it, naming the variable.
    public static func timeout(environment: [String: String], settings: HarnessSettings) -> Duration {
        environment[settings.timeoutVariable].flatMap(FunctionTimeout.parse) ?? .seconds(10)
    }
}

/// Which environment variables set the harness's log level and invocation timeout. The harness knows no
/// product's names: the product passes its own (wxauth's are `HarnessSettings.wxauth`, in WXAuth).
public struct HarnessSettings: Sendable {
    /// Read in order; the first that names a level wins (e.g. the product's own, then Lambda's
    /// `AWS_LAMBDA_LOG_LEVEL`, which Lambda sets from the function's logging configuration).
    public var logLevelVariables: [String]
    /// The invocation timeout in seconds, as the runner and the deployment templates pass it.
    public var timeoutVariable: String

    public init(logLevelVariables: [String], timeoutVariable: String) {
        self.logLevelVariables = logLevelVariables
        self.timeoutVariable = timeoutVariable
    }
}

/// An invocation timeout as its variable gives it: seconds, 0 < t ≤ 900 (Lambda's longest).
package enum FunctionTimeout {
    package static let maximumSeconds = 900

    /// The timeout, or nil for anything not a decimal number in range (`nan`, `inf`, `0x10`, `1e300`, `-1`, `0`).
    package static func parse(_ text: String) -> Duration? {
        // `Double(_:)` also reads `nan`, `inf` and hexadecimal: only decimal digits, a point and an exponent here.
        guard let first = text.utf8.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9"),
            text.utf8.allSatisfy({
                ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || Array(".eE+-".utf8).contains($0)
            }),
            let seconds = Double(text), seconds > 0, seconds <= Double(maximumSeconds)
        else { return nil }
        // In range, so the conversion to Int64 cannot trap; rounded up so a tiny timeout is not zero.
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }
}

/// A function as its `main.swift` describes it: the handler, and what to prepare once in a warm process.
public struct FunctionDefinition: Sendable {
    public var handler: FunctionHandler
    /// Run once before the first invocation when the platform keeps the process (the Lambda loop); a
    /// failure is reported as an initialisation error. One-shot processes skip it and stay lazy.
    public var warmUp: (@Sendable (Logger) async throws -> Void)?

    public init(handler: @escaping FunctionHandler, warmUp: (@Sendable (Logger) async throws -> Void)? = nil) {
        self.handler = handler
        self.warmUp = warmUp
    }
}

extension FunctionHarness {
    /// The whole life of a function process, which ``start(name:settings:definition:)`` (what a `main.swift` calls)
    /// runs.
    /// With `AWS_LAMBDA_RUNTIME_API`
    /// set it serves the Lambda Runtime API forever, with `SCF_RUNTIME_API` and `SCF_RUNTIME_API_PORT` Tencent
    /// SCF's (``RuntimeLoop/api(environment:)``); otherwise one event on stdin, one response, exit 0.
    public static func main(
        name: String,
        settings: HarnessSettings,
        definition: @escaping @Sendable ([String: String]) -> FunctionDefinition
    ) async -> Never {
        let environment = ProcessEnvironment.current()
        ProcessEnvironment.bootstrap(environment: environment, settings: settings)
        var logger = Logger(label: name)
        logger[metadataKey: "function"] = .string(name)
        let harness = FunctionHarness(
            functionName: name,
            timeout: ProcessEnvironment.timeout(environment: environment, settings: settings),
            logger: logger
        )
        let function = definition(environment)
        guard let api = RuntimeLoop.api(environment: environment) else {
            await harness.runProcess(handler: function.handler)
        }
        await RuntimeLoop(harness: harness, api: api).start(function)
        exit(1)
    }
}
