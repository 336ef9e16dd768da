import BlockingSocket
import HTTPWire
import WeChat

/// The WeChat transport on HTTPWire's small blocking client: nothing to set up before the first request (no event
/// loop, no connection pool object, no TLS context until an `https` origin is used), which every cold start of
/// `login` and `callback` would otherwise pay for. Idle connections are kept for the next call of a warm instance.
public struct WireTransport: WeChatTransport {
    private let client: HTTPWireClient
    /// WeChat's answers are small; anything bigger is not WeChat.
    private let maxResponseBytes: Int

    /// `connector` opens the connections: TCP, with TLS checked against the system's roots for `https` (WeChat's
    /// API) unless another is given (tests).
    package init(
        connector: @escaping HTTPWireClient.Connector = HTTPWireClient.connector(),
        maxResponseBytes: Int = 1 << 20
    ) {
        self.client = HTTPWireClient(connector: connector)
        self.maxResponseBytes = maxResponseBytes
    }

    public func send(_ request: WeChatHTTPRequest, timeout: Duration) async throws -> WeChatHTTPResponse {
        guard let (origin, target) = Self.split(request.url) else {
            // The URL comes from settings (WECHAT_API_BASE); it may hold a secret, so it is not quoted.
            throw TransportFailure(
                reason: "the WeChat URL is not an http(s)://host[:port]/path URL",
                mayHaveReachedServer: false
            )
        }
        let outgoing = HTTPWireRequest(
            method: request.method,
            target: target,
            host: origin.hostHeader,
            headers: [("User-Agent", "wxauth")] + request.headers,
            body: request.body
        )
        let client = self.client
        let limit = maxResponseBytes
        let deadline = ContinuousClock.now + timeout
        do {
            let response = try await onOwnThread { () throws(HTTPWireError) in
                try client.send(outgoing, to: origin, bodyLimit: limit, deadline: deadline)
            }
            return WeChatHTTPResponse(
                status: response.status,
                contentType: response.header("content-type"),
                body: response.body
            )
        } catch {
            throw TransportFailure(
                reason: error.description,
                mayHaveReachedServer: error.mayHaveReachedServer,
                isTimeout: error.isTimeout
            )
        }
    }

    /// `http(s)://host[:port]/path?query` → the origin and the origin-form target; nil for anything else (user
    /// info, fragments, other schemes, a bad port).
    static func split(_ url: String) -> (HTTPWireClient.Origin, String)? {
        let secure: Bool
        let rest: Substring
        if url.hasPrefix("https://") {
            secure = true
            rest = url.dropFirst(8)
        } else if url.hasPrefix("http://") {
            secure = false
            rest = url.dropFirst(7)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        guard !target.contains("#"), !authority.isEmpty, !authority.contains("@") else { return nil }
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }
        var host = Substring(authority)
        var port = secure ? 443 : 80
        if authority.hasPrefix("[") {
            // An IPv6 literal: [address] or [address]:port.
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Self.port(after.dropFirst()) else { return nil }
                port = number
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let number = Self.port(authority[authority.index(after: colon)...]) else { return nil }
            port = number
        }
        guard !host.isEmpty else { return nil }
        return (HTTPWireClient.Origin(secure: secure, host: String(host), port: port), target)
    }

    private static func port(_ text: Substring) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let port = Int(text),
            (1...65_535).contains(port)
        else { return nil }
        return port
    }
}
