#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// One invocation handed out by the Lambda Runtime API (`GET /runtime/invocation/next`).
public struct RuntimeInvocation: Sendable, Equatable {
    public var requestId: String
    /// `Lambda-Runtime-Deadline-Ms`: when Lambda stops waiting, in milliseconds since the epoch.
    public var deadlineEpochMilliseconds: Int64?
    public var traceId: String?
    public var event: [UInt8]

    public init(requestId: String, deadlineEpochMilliseconds: Int64?, traceId: String?, event: [UInt8]) {
        self.requestId = requestId
        self.deadlineEpochMilliseconds = deadlineEpochMilliseconds
        self.traceId = traceId
        self.event = event
    }
}

/// The Lambda Runtime API (2018-06-01) as the loop uses it; injectable so the loop is tested without a network.
public protocol RuntimeAPI: Sendable {
    /// Waits, without a timeout, for the next invocation.
    func next() async throws -> RuntimeInvocation
    /// `POST /runtime/invocation/{id}/response`.
    func respond(requestId: String, body: [UInt8]) async throws
    /// `POST /runtime/invocation/{id}/error` with `{"errorType","errorMessage"}`.
    func fail(requestId: String, errorType: String, errorMessage: String) async throws
    /// `POST /runtime/init/error`.
    func failInitialization(errorType: String, errorMessage: String) async throws
}

/// The custom-runtime loop: the same binary that answers one event on stdin serves invocation after
/// invocation when Lambda runs it as `bootstrap`, keeping what its handler keeps (keys, clients, database).
public struct LambdaRuntimeLoop: Sendable {
    public var harness: FunctionHarness
    public var api: any RuntimeAPI

    public init(harness: FunctionHarness, api: any RuntimeAPI) {
        self.harness = harness
        self.api = api
    }

    /// Reports a failed initialisation; Lambda then fails the invocation and restarts the process.
    public func reportInitializationFailure(_ error: any Error) async {
        let (type, message) = Self.describe(error)
        harness.logger.error("initialisation failed", metadata: ["error_type": "\(type)", "error": "\(message)"])
        try? await api.failInitialization(errorType: type, errorMessage: message)
    }

    /// Serves invocations until `limit` (nil: forever) or until the Runtime API fails.
    public func run(handler: FunctionHandler, limit: Int? = nil) async {
        var served = 0
        while limit.map({ served < $0 }) ?? true {
            let invocation: RuntimeInvocation
            do {
                invocation = try await api.next()
            } catch {
                harness.logger.critical("the Runtime API failed", metadata: ["error": "\(error)"])
                return
            }
            served += 1
            if let trace = invocation.traceId {
                setenv("_X_AMZN_TRACE_ID", trace, 1)
            }
            var harness = self.harness
            harness.logger[metadataKey: "aws_request_id"] = .string(invocation.requestId)
            let deadline = Self.deadline(epochMilliseconds: invocation.deadlineEpochMilliseconds, fallback: harness.timeout)
            let body = await harness.respond(to: invocation.event, deadline: deadline, handler: handler)
            do {
                try await api.respond(requestId: invocation.requestId, body: body)
            } catch {
                harness.logger.error("could not post the response", metadata: ["error": "\(error)"])
                try? await api.fail(
                    requestId: invocation.requestId, errorType: "Runtime.ResponseFailed",
                    errorMessage: "the response could not be delivered"
                )
            }
        }
    }

    /// The Runtime API's wall-clock deadline as an instant of the monotonic clock the handlers use.
    static func deadline(epochMilliseconds: Int64?, fallback: Duration) -> ContinuousClock.Instant {
        guard let epochMilliseconds else { return .now + fallback }
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let nowMilliseconds = Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
        // The header is the platform's, but any Int64 must do no worse than an immediate or distant deadline.
        let (remaining, overflow) = epochMilliseconds.subtractingReportingOverflow(nowMilliseconds)
        let clamped = overflow ? (epochMilliseconds < 0 ? 0 : Int64.max) : max(0, remaining)
        return .now + .milliseconds(clamped)
    }

    static func describe(_ error: any Error) -> (String, String) {
        if let described = error as? any CustomStringConvertible {
            return ("Runtime.InitError", described.description)
        }
        return ("Runtime.InitError", "\(type(of: error))")
    }
}
