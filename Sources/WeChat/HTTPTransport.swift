import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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

/// The production transport on AsyncHTTPClient (its own TLS; no libcurl, no Foundation networking).
public struct AsyncHTTPClientTransport: WeChatTransport {
    private let client: HTTPClient
    /// WeChat answers are small; anything bigger is not WeChat.
    private let maxResponseBytes: Int

    /// Uses the process-wide shared client, so warm invocations reuse its connections.
    public init(client: HTTPClient = .shared, maxResponseBytes: Int = 1024 * 1024) {
        self.client = client
        self.maxResponseBytes = maxResponseBytes
    }

    public func send(_ request: WeChatHTTPRequest, timeout: Duration) async throws -> WeChatHTTPResponse {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers {
            outgoing.headers.add(name: name, value: value)
        }
        if let body = request.body {
            outgoing.body = .bytes(ByteBuffer(bytes: body))
        }
        let nanoseconds = max(Int64(1), timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        do {
            let response = try await client.execute(outgoing, timeout: .nanoseconds(nanoseconds))
            let body = try await response.body.collect(upTo: maxResponseBytes)
            return WeChatHTTPResponse(
                status: Int(response.status.code),
                contentType: response.headers.first(name: "content-type"),
                body: Array(buffer: body)
            )
        } catch {
            throw Self.failure(from: error)
        }
    }

    /// Sorts AsyncHTTPClient and NIO errors into "surely not sent" and "may have reached WeChat".
    static func failure(from error: any Error) -> TransportFailure {
        if let failure = error as? TransportFailure { return failure }
        let notSent = TransportFailure(reason: "could not connect", mayHaveReachedServer: false)
        if let clientError = error as? HTTPClientError {
            let beforeSending: [HTTPClientError] = [
                .connectTimeout, .invalidURL, .emptyHost, .emptyScheme, .socksHandshakeTimeout,
                .httpProxyHandshakeTimeout, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout,
            ]
            if beforeSending.contains(clientError) { return notSent }
            if [.deadlineExceeded, .readTimeout, .writeTimeout].contains(clientError) {
                return TransportFailure(reason: "timed out", mayHaveReachedServer: true, isTimeout: true)
            }
            if clientError == .remoteConnectionClosed {
                return TransportFailure(reason: "connection closed before a response", mayHaveReachedServer: true)
            }
            return TransportFailure(reason: "HTTP client error", mayHaveReachedServer: true)
        }
        if error is NIOConnectionError { return notSent }
        if case .connectTimeout = error as? ChannelError { return notSent }
        if let ioError = error as? IOError, [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH].contains(ioError.errnoCode) {
            return notSent
        }
        return TransportFailure(reason: "network error", mayHaveReachedServer: true)
    }
}
