import BlockingSocket
import Synchronization

/// A small blocking HTTP/1.1 client on ``BlockingSocket`` (TLS through OpenSSL for `https`): one request at a time
/// per connection, idle connections kept for the next request to the same origin (a warm function calls WeChat
/// again without a new TCP and TLS handshake).
///
/// Blocking, so it costs nothing to set up — no event loop, no threads, no TLS context until a secure origin is
/// used — which matters because a cold function pays for its set-up on every invocation. Callers in an
/// async context run it off the cooperative pool (``onOwnThread(_:)``).
package final class HTTPWireClient: Sendable {
    /// Opens a connection to an origin before the deadline: TCP, with TLS for `https`.
    package typealias Connector =
        @Sendable (_ origin: Origin, _ deadline: ContinuousClock.Instant) throws(SocketError) -> BlockingSocket

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
    private let keepsConnections: Bool
    /// Idle connections by origin. A socket is used by one request at a time: taken out of the pool for an
    /// exchange and put back after it, never shared.
    private let idle = Mutex<[Origin: [ParkedSocket]]>([:])
    /// Idle connections kept per origin; WeChat calls are few per invocation.
    private static let idleLimit = 2

    /// `keepsConnections: false` sends `Connection: close` and opens a connection per request.
    package init(connector: @escaping Connector = HTTPWireClient.connector(), keepsConnections: Bool = true) {
        self.connector = connector
        self.keepsConnections = keepsConnections
    }

    /// TCP, and for `https` TLS that checks the certificate chain and the host name against `rootCertificates`
    /// (a PEM file; nil: the system's roots, see ``TLSOptions/defaultRoots(environment:hashedDirectories:bundles:)``).
    package static func connector(rootCertificates: String? = nil) -> Connector {
        { origin, deadline throws(SocketError) in
            let socket = try BlockingSocket.connect(host: origin.host, port: origin.port, deadline: deadline)
            if origin.secure {
                try socket.startTLS(
                    TLSOptions(
                        verification: .chainAndHost,
                        serverName: origin.host,
                        rootCertificates: rootCertificates
                    ),
                    deadline: deadline
                )
            }
            return socket
        }
    }

    /// Sends `request` to `origin` and reads the whole answer, within `deadline` (nil: no limit) and `bodyLimit`.
    package func send(
        _ request: HTTPWireRequest,
        to origin: Origin,
        bodyLimit: Int,
        deadline: ContinuousClock.Instant?
    ) throws(HTTPWireError) -> HTTPWireResponse {
        let bytes = try request.encoded(keepAlive: keepsConnections)
        // No deadline: a century, for `invocation/next`'s long poll.
        let deadline = deadline ?? ContinuousClock.now + .seconds(100 * 365 * 86_400)
        let socket: BlockingSocket
        if let kept = takeIdle(origin) {
            socket = kept
        } else {
            do {
                socket = try connector(origin, deadline)
            } catch {
                // Connecting and the TLS handshake send nothing of the request.
                throw HTTPWireError(error.description, mayHaveReachedServer: false, isTimeout: error.timedOut)
            }
        }
        // A kept connection the server closes just as it is reused fails the request like any broken connection
        // (it may have been read): not retried here, since only the caller knows whether it may be repeated.
        let (response, reusable) = try Self.exchange(
            bytes,
            on: socket,
            isHEAD: request.method == "HEAD",
            bodyLimit: bodyLimit,
            deadline: deadline
        )
        if reusable, keepsConnections { putIdle(socket, origin) }
        return response
    }

    /// Writes the request and reads the answer; whether the connection can carry another request.
    package static func exchange(
        _ request: [UInt8],
        on socket: BlockingSocket,
        isHEAD: Bool,
        bodyLimit: Int,
        deadline: ContinuousClock.Instant
    ) throws(HTTPWireError) -> (HTTPWireResponse, reusable: Bool) {
        var parser = HTTPResponseParser(bodyLimit: bodyLimit, isHEAD: isHEAD)
        do throws(SocketError) {
            try socket.write(request, deadline: deadline)
        } catch {
            throw HTTPWireError(error.description, isTimeout: error.timedOut)
        }
        var received: [UInt8] = []
        while true {
            received.removeAll(keepingCapacity: true)
            var ended = false
            do throws(SocketError) {
                try socket.read(into: &received, deadline: deadline)
            } catch {
                guard error.endOfStream else { throw HTTPWireError(error.description, isTimeout: error.timedOut) }
                ended = true
            }
            if ended { return (try parser.finish(), false) }
            if let response = try parser.feed(received) {
                let closing = response.header("connection")?.lowercased().contains("close") ?? false
                return (response, parser.isDelimited && !closing)
            }
        }
    }

    private func takeIdle(_ origin: Origin) -> BlockingSocket? {
        while let candidate = idle.withLock({ $0[origin]?.popLast() }) {
            if !candidate.socket.isStale { return candidate.socket }
        }
        return nil
    }

    private func putIdle(_ socket: BlockingSocket, _ origin: Origin) {
        idle.withLock { pool in
            var sockets = pool[origin] ?? []
            guard sockets.count < Self.idleLimit else { return }
            sockets.append(ParkedSocket(socket: socket))
            pool[origin] = sockets
        }
    }
}

/// A socket parked in the idle pool: only ever used by the one request that takes it out.
private struct ParkedSocket: @unchecked Sendable {
    var socket: BlockingSocket
}
