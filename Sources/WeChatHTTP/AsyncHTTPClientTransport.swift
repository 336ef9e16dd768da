import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import WeChat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The production transport on AsyncHTTPClient (its own TLS; no libcurl, no Foundation networking).
///
/// In a module of its own so that only the executables of functions that call WeChat link an HTTP client, NIO's
/// sockets and TLS: their `main.swift` makes one and hands it to `Functions.definition`.
public struct AsyncHTTPClientTransport: WeChatTransport {
    /// Nil: the process-wide shared client, first touched by the first request, so an executable that links
    /// every function (`wxauth-http`) creates it only if a function of it calls WeChat.
    private let client: HTTPClient?
    /// WeChat answers are small; anything bigger is not WeChat.
    private let maxResponseBytes: Int

    /// `client` nil uses the process-wide shared client, so warm invocations reuse its connections.
    public init(client: HTTPClient? = nil, maxResponseBytes: Int = 1024 * 1024) {
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
            let response = try await (client ?? .shared).execute(outgoing, timeout: .nanoseconds(nanoseconds))
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
