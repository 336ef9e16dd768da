/// An HTTP/1.1 request as the bytes that go on the wire.
package struct HTTPWireRequest: Sendable {
    package var method: String
    /// The origin-form target: the path and query, e.g. `/sns/jscode2session?appid=…`.
    package var target: String
    /// The `Host` header: `host` or `host:port`.
    package var host: String
    package var headers: [(String, String)]
    package var body: [UInt8]?

    package init(method: String, target: String, host: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.target = target
        self.host = host
        self.headers = headers
        self.body = body
    }

    /// The request's bytes. Refuses a method, target, host or header that would change the message's shape
    /// (a CR or LF smuggled into a value, a space in the target): they come from settings and callers' input.
    /// `keepAlive` asks the server to keep the connection for another request; otherwise it is closed after.
    package func encoded(keepAlive: Bool = false) throws(HTTPWireError) -> [UInt8] {
        guard !method.isEmpty, method.utf8.allSatisfy(HTTPResponseParser.isTokenByte) else {
            throw HTTPWireError("the request method is not a token", mayHaveReachedServer: false)
        }
        guard target.hasPrefix("/"), target.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw HTTPWireError(
                "the request target must be a path without spaces or control characters",
                mayHaveReachedServer: false
            )
        }
        guard !host.isEmpty, host.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw HTTPWireError("the request host is malformed", mayHaveReachedServer: false)
        }
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\n"
        for (name, value) in headers {
            guard !name.isEmpty, name.utf8.allSatisfy(HTTPResponseParser.isTokenByte),
                value.utf8.allSatisfy({ $0 == 9 || ($0 >= 32 && $0 != 127) })
            else { throw HTTPWireError("a request header is malformed", mayHaveReachedServer: false) }
            let lowered = name.lowercased()
            // These describe the message and the connection; they are this encoder's to write.
            guard !["content-length", "transfer-encoding", "host", "connection"].contains(lowered) else { continue }
            head += "\(name): \(value)\r\n"
        }
        if let body {
            head += "Content-Length: \(body.count)\r\n"
        } else if method == "POST" || method == "PUT" || method == "PATCH" {
            head += "Content-Length: 0\r\n"
        }
        head += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n"
        return Array(head.utf8) + (body ?? [])
    }
}
