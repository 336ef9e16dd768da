import Synchronization

/// A small blocking HTTP/1.1 client: one request at a time per connection, idle connections kept for the next
/// request to the same origin (a warm function calls WeChat again without a new TCP and TLS handshake).
///
/// Blocking, so it costs nothing to set up — no event loop, no threads, no TLS context until a secure origin is
/// used — which matters because a cold function pays for its set-up on every invocation. Callers in an
/// async context run it off the cooperative pool (``onOwnThread(_:)``).
package final class HTTPWireClient: Sendable {
    /// Opens a stream to an origin: plain TCP, or TLS for `https` (given by whoever links a TLS library).
    package typealias Connector = @Sendable (_ origin: Origin, _ deadline: ContinuousClock.Instant?) throws(HTTPWireError) -> any ByteStream

    /// Where a request goes.
    package struct Origin: Hashable, Sendable {
        package var secure: Bool
        package var host: String
        package var port: Int

        package init(secure: Bool, host: String, port: Int) {
            self.secure = secure
            self.host = host
            self.port = port
        }

        /// The `Host` header: the port only when it is not the scheme's default.
        package var hostHeader: String {
            let bracketed = host.contains(":") ? "[\(host)]" : host
            return port == (secure ? 443 : 80) ? bracketed : "\(bracketed):\(port)"
        }
    }

    private let connector: Connector
    /// Idle connections by origin. `ByteStream`s are classes used by one request at a time: taken out of the
    /// box for an exchange and put back after it, never shared.
    private let idle = Mutex<[Origin: [UnsafeSendableStream]]>([:])
    /// Idle connections kept per origin; WeChat calls are few per invocation.
    private static let idleLimit = 2

    private let keepsConnections: Bool

    /// `keepsConnections: false` sends `Connection: close` and opens a connection per request.
    package init(connector: @escaping Connector = HTTPWireClient.plainConnector, keepsConnections: Bool = true) {
        self.connector = connector
        self.keepsConnections = keepsConnections
    }

    /// Plain TCP only; an `https` origin is refused (the caller's configuration needs a TLS connector).
    package static let plainConnector: Connector = { origin, deadline throws(HTTPWireError) in
        guard !origin.secure else {
            throw HTTPWireError("https needs a TLS connector, and this client has none", mayHaveReachedServer: false)
        }
        return try TCPStream.connect(host: origin.host, port: origin.port, deadline: deadline)
    }

    /// Sends `request` to `origin` and reads the whole answer, within `deadline` and `bodyLimit`.
    package func send(
        _ request: HTTPWireRequest, to origin: Origin, bodyLimit: Int, deadline: ContinuousClock.Instant?
    ) throws(HTTPWireError) -> HTTPWireResponse {
        let bytes = try request.encoded(keepAlive: keepsConnections)
        // A kept connection the server closes just as it is reused fails the request like any broken connection
        // (it may have been read): not retried here, since only the caller knows whether it may be repeated.
        let stream: any ByteStream
        if let kept = takeIdle(origin) {
            stream = kept
        } else {
            stream = try connector(origin, deadline)
        }
        let (response, reusable) = try Self.exchange(
            bytes, on: stream, isHEAD: request.method == "HEAD", bodyLimit: bodyLimit, deadline: deadline
        )
        if reusable, keepsConnections { putIdle(stream, origin) }
        return response
    }

    /// Writes the request and reads the answer; whether the connection can carry another request.
    package static func exchange(
        _ request: [UInt8], on stream: any ByteStream, isHEAD: Bool, bodyLimit: Int, deadline: ContinuousClock.Instant?
    ) throws(HTTPWireError) -> (HTTPWireResponse, reusable: Bool) {
        try stream.write(request, deadline: deadline)
        var parser = HTTPResponseParser(bodyLimit: bodyLimit, isHEAD: isHEAD)
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = try stream.read(into: &buffer, deadline: deadline)
            if count == 0 { return (try parser.finish(), false) }
            if let response = try parser.feed(buffer[..<count]) {
                let closing = response.header("connection")?.lowercased().contains("close") ?? false
                return (response, parser.isDelimited && !closing)
            }
        }
    }

    private func takeIdle(_ origin: Origin) -> (any ByteStream)? {
        while let candidate = idle.withLock({ $0[origin]?.popLast() }) {
            if !candidate.stream.isStale { return candidate.stream }
        }
        return nil
    }

    private func putIdle(_ stream: any ByteStream, _ origin: Origin) {
        idle.withLock { pool in
            var streams = pool[origin] ?? []
            guard streams.count < Self.idleLimit else { return }
            streams.append(UnsafeSendableStream(stream: stream))
            pool[origin] = streams
        }
    }
}

/// A stream parked in the idle pool: only ever used by the one request that takes it out.
private struct UnsafeSendableStream: @unchecked Sendable {
    var stream: any ByteStream
}
