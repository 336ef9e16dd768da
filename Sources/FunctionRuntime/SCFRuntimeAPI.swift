import HTTPWire

/// Tencent Cloud SCF's custom-runtime API (cloud.tencent.com/document/product/583/47274) over
/// ``RuntimeHTTPClient``: `POST /runtime/init/ready` once, then `GET /runtime/invocation/next` (a long poll whose
/// answer carries `Request_Id`, `Memory_Limit_In_Mb` and `Time_Limit_In_Ms`), and `POST
/// /runtime/invocation/response` or `/runtime/invocation/error`. There is no version prefix and no request id in
/// the paths: an instance serves one invocation at a time.
public struct SCFRuntimeAPI: RuntimeAPI {
    /// `SCF_RUNTIME_API` (a host) and `SCF_RUNTIME_API_PORT`.
    public var host: String
    public var port: String

    public init(host: String, port: String) {
        self.host = host
        self.port = port
    }

    public var requestIdLogKey: String { "scf_request_id" }

    private var client: RuntimeHTTPClient {
        RuntimeHTTPClient(address: "\(host):\(port)", setting: "SCF_RUNTIME_API and SCF_RUNTIME_API_PORT")
    }

    public func ready() async throws {
        try client.post("/runtime/init/ready", body: [], headers: [])
    }

    public func next() async throws -> RuntimeInvocation {
        let response = try client.exchange("GET", "/runtime/invocation/next", headers: [], body: [])
        guard response.status == 200 else {
            throw RuntimeHTTPClient.Failure(description: "invocation/next answered HTTP \(response.status)")
        }
        // The time limit is relative: it starts when the event is handed out.
        let limit = response.header("time_limit_in_ms").flatMap { Int64($0) }.flatMap { $0 > 0 ? $0 : nil }
        return RuntimeInvocation(
            requestId: response.header("request_id") ?? "",
            deadlineEpochMilliseconds: limit.map { WallClock.nowMilliseconds() + min($0, 900_000) },
            traceId: nil,
            memoryLimitMegabytes: response.header("memory_limit_in_mb").flatMap { Int($0) },
            event: response.body
        )
    }

    /// SCF's integrated response, `{isBase64Encoded, statusCode, headers, body}`: anything else makes SCF's HTTP
    /// front answer `Invalid scf response format`. Its `headers` are single strings, so a cookie goes in
    /// `headers["set-cookie"]`; when there are several, the first goes there and all of them in
    /// `multiValueHeaders["set-cookie"]` (API Gateway's convention for repeated headers), since joining
    /// `Set-Cookie` values with commas would corrupt them.
    public func encode(_ response: FunctionResponse) -> [UInt8] {
        var integrated = IntegratedResponse(
            isBase64Encoded: response.isBase64Encoded,
            statusCode: response.statusCode,
            headers: response.headers,
            body: response.body
        )
        if let cookies = response.cookies, let first = cookies.first {
            integrated.headers["set-cookie"] = first
            if cookies.count > 1 { integrated.multiValueHeaders = ["set-cookie": cookies] }
        }
        if let bytes = try? JSONCoding.encode(integrated) { return bytes }
        return FunctionHarness.encode(.error(500, code: "server_error", description: "internal error"))
    }

    public func respond(requestId: String, body: [UInt8]) async throws {
        try client.post("/runtime/invocation/response", body: body, headers: [])
    }

    public func fail(requestId: String, errorType: String, errorMessage: String) async throws {
        try client.post(
            "/runtime/invocation/error",
            body: RuntimeHTTPClient.errorBody(errorType, errorMessage),
            headers: []
        )
    }

    /// SCF documents no initialisation-error endpoint: the process exits and SCF reports the failed start, whose
    /// reason is in the function's log.
    public func failInitialization(errorType: String, errorMessage: String) async throws {}

    struct IntegratedResponse: Encodable {
        var isBase64Encoded: Bool
        var statusCode: Int
        var headers: [String: String]
        var body: String
        var multiValueHeaders: [String: [String]]?
    }
}
