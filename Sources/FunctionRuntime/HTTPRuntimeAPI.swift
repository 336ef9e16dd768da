import HTTPWire

/// AWS Lambda's Runtime API (2018-06-01) over ``RuntimeHTTPClient``.
public struct HTTPRuntimeAPI: RuntimeAPI {
    /// `host:port` from `AWS_LAMBDA_RUNTIME_API`.
    public var address: String

    public init(address: String) {
        self.address = address
    }

    public var requestIdLogKey: String { "aws_request_id" }

    private var client: RuntimeHTTPClient { RuntimeHTTPClient(address: address, setting: "AWS_LAMBDA_RUNTIME_API") }

    /// Lambda takes the first `invocation/next` as the end of initialisation.
    public func ready() async throws {}

    public func next() async throws -> RuntimeInvocation {
        let response = try client.exchange("GET", "/2018-06-01/runtime/invocation/next", headers: [], body: [])
        guard response.status == 200, let id = response.header("lambda-runtime-aws-request-id") else {
            throw RuntimeHTTPClient.Failure(description: "invocation/next answered HTTP \(response.status)")
        }
        return RuntimeInvocation(
            requestId: id,
            deadlineEpochMilliseconds: response.header("lambda-runtime-deadline-ms").flatMap { Int64($0) },
            traceId: response.header("lambda-runtime-trace-id"),
            event: response.body
        )
    }

    /// API Gateway's payload v2.0 proxy response, exactly what the function writes on stdout.
    public func encode(_ response: FunctionResponse) -> [UInt8] {
        FunctionHarness.encode(response)
    }

    public func respond(requestId: String, body: [UInt8]) async throws {
        try client.post("/2018-06-01/runtime/invocation/\(requestId)/response", body: body, headers: [])
    }

    public func fail(requestId: String, errorType: String, errorMessage: String) async throws {
        try client.post(
            "/2018-06-01/runtime/invocation/\(requestId)/error",
            body: RuntimeHTTPClient.errorBody(errorType, errorMessage),
            headers: [("Lambda-Runtime-Function-Error-Type", "Unhandled")]
        )
    }

    public func failInitialization(errorType: String, errorMessage: String) async throws {
        try client.post(
            "/2018-06-01/runtime/init/error",
            body: RuntimeHTTPClient.errorBody(errorType, errorMessage),
            headers: [("Lambda-Runtime-Function-Error-Type", "Unhandled")]
        )
    }
}

/// A runtime API over plain HTTP/1.1 on a socket, one connection per call.
///
/// The API lives on the same host, so a tiny blocking client is enough, and it keeps an HTTP library out of
/// the start-up of every function binary.
struct RuntimeHTTPClient {
    /// `host:port`.
    var address: String
    /// The setting the address came from, for errors.
    var setting: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func errorBody(_ type: String, _ message: String) -> [UInt8] {
        Array(("{\"errorType\":" + JSONText.quote(type) + ",\"errorMessage\":" + JSONText.quote(message) + "}").utf8)
    }

    func post(_ path: String, body: [UInt8], headers: [(String, String)]) throws {
        let response = try exchange(
            "POST",
            path,
            headers: headers + [("Content-Type", "application/json")],
            body: body
        )
        guard (200..<300).contains(response.status) else {
            throw Failure(description: "\(path) answered HTTP \(response.status)")
        }
    }

    /// One connection per call, as the runtime APIs have always been called here: a connection kept across a
    /// frozen and thawed instance could be stale at the one moment nothing may fail.
    private static let http = HTTPWireClient(keepsConnections: false)

    /// Lambda's events are at most 6 MB; the answer's head and framing fit well within the rest.
    static let maxAnswerBytes = 8 * 1024 * 1024

    func exchange(
        _ method: String,
        _ path: String,
        headers: [(String, String)],
        body: [UInt8]
    ) throws -> HTTPWireResponse {
        let parts = address.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]), (1...65_535).contains(port) else {
            throw Failure(description: "\(setting) must be host:port")
        }
        let request = HTTPWireRequest(
            method: method,
            target: path,
            host: address,
            headers: headers + [("User-Agent", "wxauth")],
            body: body
        )
        do {
            // No deadline: `invocation/next` is a long poll that answers when there is work.
            return try Self.http.send(
                request,
                to: HTTPWireClient.Origin(secure: false, host: String(parts[0]), port: port),
                bodyLimit: Self.maxAnswerBytes,
                deadline: nil
            )
        } catch {
            throw Failure(description: "the runtime API (\(setting)) failed: \(error.description)")
        }
    }
}
