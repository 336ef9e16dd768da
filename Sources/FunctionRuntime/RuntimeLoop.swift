import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One invocation handed out by a platform's runtime API (`GET …/runtime/invocation/next`).
public struct RuntimeInvocation: Sendable, Equatable {
    public var requestId: String
    /// When the platform stops waiting, in milliseconds since the epoch (Lambda's `Lambda-Runtime-Deadline-Ms`;
    /// SCF's `Time_Limit_In_Ms` added to the time the event arrived).
    public var deadlineEpochMilliseconds: Int64?
    public var traceId: String?
    /// The function's memory size as the platform reports it per invocation (SCF's `Memory_Limit_In_Mb`).
    public var memoryLimitMegabytes: Int?
    public var event: [UInt8]

    public init(
        requestId: String,
        deadlineEpochMilliseconds: Int64?,
        traceId: String?,
        memoryLimitMegabytes: Int? = nil,
        event: [UInt8]
    ) {
        self.requestId = requestId
        self.deadlineEpochMilliseconds = deadlineEpochMilliseconds
        self.traceId = traceId
        self.memoryLimitMegabytes = memoryLimitMegabytes
        self.event = event
    }
}

/// A custom-runtime protocol as the loop uses it: AWS Lambda's Runtime API (``HTTPRuntimeAPI``) or Tencent SCF's
/// (``SCFRuntimeAPI``). Injectable so the loop is tested without a network.
public protocol RuntimeAPI: Sendable {
    /// The log metadata key the platform's request id is logged under.
    var requestIdLogKey: String { get }
    /// Tells the platform initialisation is done (SCF's `POST /runtime/init/ready`; Lambda needs nothing).
    func ready() async throws
    /// Waits, without a timeout, for the next invocation.
    func next() async throws -> RuntimeInvocation
    /// The response as this platform wants it posted.
    func encode(_ response: FunctionResponse) -> [UInt8]
    /// Posts the response of invocation `requestId`.
    func respond(requestId: String, body: [UInt8]) async throws
    /// Reports that invocation `requestId` failed, with `{"errorType","errorMessage"}`.
    func fail(requestId: String, errorType: String, errorMessage: String) async throws
    /// Reports a failed initialisation, when the platform has a way to hear it.
    func failInitialization(errorType: String, errorMessage: String) async throws
}

/// The custom-runtime loop: the same binary that answers one event on stdin serves invocation after invocation
/// when a platform runs it as `bootstrap`, keeping what its handler keeps (keys, clients, database).
public struct RuntimeLoop: Sendable {
    public var harness: FunctionHarness
    public var api: any RuntimeAPI

    public init(harness: FunctionHarness, api: any RuntimeAPI) {
        self.harness = harness
        self.api = api
    }

    /// The runtime API the environment names: Lambda's with `AWS_LAMBDA_RUNTIME_API`, SCF's with
    /// `SCF_RUNTIME_API` and `SCF_RUNTIME_API_PORT`; nil when neither (one event on stdin).
    public static func api(environment: [String: String]) -> (any RuntimeAPI)? {
        if let address = environment["AWS_LAMBDA_RUNTIME_API"], !address.isEmpty {
            return HTTPRuntimeAPI(address: address)
        }
        if let host = environment["SCF_RUNTIME_API"], !host.isEmpty, let port = environment["SCF_RUNTIME_API_PORT"],
            !port.isEmpty
        {
            return SCFRuntimeAPI(host: host, port: port)
        }
        return nil
    }

    /// Warms the function up, tells the platform it is ready and serves invocations. Returns only when
    /// initialisation failed (reported) or the runtime API failed; the process should then exit non-zero, so
    /// the platform starts a new one.
    public func start(_ function: FunctionDefinition) async {
        do {
            try await function.warmUp?(harness.logger)
        } catch {
            await reportInitializationFailure(error)
            return
        }
        do {
            try await api.ready()
        } catch {
            harness.logger.critical("the runtime API failed", metadata: ["error": "\(error)"])
            return
        }
        await run(handler: function.handler)
    }

    /// Reports a failed initialisation; the platform then fails the invocation and restarts the process.
    public func reportInitializationFailure(_ error: any Error) async {
        let (type, message) = Self.describe(error)
        harness.logger.error("initialisation failed", metadata: ["error_type": "\(type)", "error": "\(message)"])
        try? await api.failInitialization(errorType: type, errorMessage: message)
    }

    /// Serves invocations until `limit` (nil: forever) or until the runtime API fails.
    public func run(handler: FunctionHandler, limit: Int? = nil) async {
        var served = 0
        while limit.map({ served < $0 }) ?? true {
            let invocation: RuntimeInvocation
            do {
                invocation = try await api.next()
            } catch {
                harness.logger.critical("the runtime API failed", metadata: ["error": "\(error)"])
                return
            }
            served += 1
            if let trace = invocation.traceId {
                setenv("_X_AMZN_TRACE_ID", trace, 1)
            }
            var harness = self.harness
            harness.logger[metadataKey: api.requestIdLogKey] = .string(invocation.requestId)
            if let memory = invocation.memoryLimitMegabytes {
                harness.logger[metadataKey: "memory_limit_mb"] = .stringConvertible(memory)
            }
            let deadline = Self.deadline(
                epochMilliseconds: invocation.deadlineEpochMilliseconds,
                fallback: harness.timeout
            )
            let response = await harness.response(
                to: invocation.event,
                deadline: deadline,
                fallbackRequestId: invocation.requestId,
                handler: handler
            )
            do {
                try await api.respond(requestId: invocation.requestId, body: api.encode(response))
            } catch {
                harness.logger.error("could not post the response", metadata: ["error": "\(error)"])
                try? await api.fail(
                    requestId: invocation.requestId,
                    errorType: "Runtime.ResponseFailed",
                    errorMessage: "the response could not be delivered"
                )
            }
        }
    }

    /// The runtime API's wall-clock deadline as an instant of the monotonic clock the handlers use.
    static func deadline(epochMilliseconds: Int64?, fallback: Duration) -> ContinuousClock.Instant {
        guard let epochMilliseconds else { return .now + fallback }
        // The header is the platform's, but any Int64 must do no worse than an immediate or distant deadline.
        let (remaining, overflow) = epochMilliseconds.subtractingReportingOverflow(WallClock.nowMilliseconds())
        let clamped = overflow ? (epochMilliseconds < 0 ? 0 : Int64.max) : max(0, remaining)
        return .now + .milliseconds(clamped)
    }

    /// The wall clock in milliseconds since the epoch.
    static func describe(_ error: any Error) -> (String, String) {
        if let described = error as? any CustomStringConvertible {
            return ("Runtime.InitError", described.description)
        }
        return ("Runtime.InitError", "\(type(of: error))")
    }
}
