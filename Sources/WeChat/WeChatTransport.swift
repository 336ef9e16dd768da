/// One HTTP request to WeChat. `url` may carry secrets: it is never logged or put in an error.
public struct WeChatHTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// WeChat's raw answer.
public struct WeChatHTTPResponse: Sendable {
    public var status: Int
    public var contentType: String?
    public var body: [UInt8]

    public init(status: Int, contentType: String? = nil, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// Why a request got no answer. `mayHaveReachedServer` is false only when the request surely never left.
public struct TransportFailure: Error, Sendable {
    public var reason: String
    public var mayHaveReachedServer: Bool
    public var isTimeout: Bool

    public init(reason: String, mayHaveReachedServer: Bool, isTimeout: Bool = false) {
        self.reason = reason
        self.mayHaveReachedServer = mayHaveReachedServer
        self.isTimeout = isTimeout
    }
}

/// Sends one request; injectable so the client is tested without a network.
public protocol WeChatTransport: Sendable {
    /// Sends `request`, giving up after `timeout`. Throws ``TransportFailure`` when no answer came.
    func send(_ request: WeChatHTTPRequest, timeout: Duration) async throws -> WeChatHTTPResponse
}
