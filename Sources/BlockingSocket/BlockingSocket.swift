#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed socket operation. The text names what failed (and the OS's reason), never data that went through.
package struct SocketError: Error, CustomStringConvertible, Equatable {
    package var description: String
    /// Whether the operation ran out of time (the deadline passed) rather than failing.
    package var timedOut: Bool
    /// Whether the other end closed the stream (a read found its end), rather than something failing.
    package var endOfStream: Bool

    package init(_ description: String, timedOut: Bool = false, endOfStream: Bool = false) {
        self.description = description
        self.timedOut = timedOut
        self.endOfStream = endOfStream
    }

    static func system(_ what: String) -> SocketError {
        SocketError("\(what): \(String(cString: strerror(errno)))")
    }
}

/// A TCP connection with blocking calls, each bounded by a deadline: the descriptor is non-blocking and every
/// wait is a `poll` that ends at the deadline. Optionally upgraded to TLS (``startTLS(_:deadline:)``) at any
/// point, as PostgreSQL's SSLRequest needs. Not thread-safe: one thread uses it at a time.
package final class BlockingSocket {
    private var descriptor: Int32
    private var tls: TLSSession?

    /// Connects to `host:port` (a name or an IP address), trying each address the resolver gives until one
    /// answers. The deadline bounds the whole attempt, name resolution included (``NameResolution``).
    package static func connect(
        host: String,
        port: Int,
        deadline: ContinuousClock.Instant
    ) throws(SocketError) -> BlockingSocket {
        let list = try NameResolution.addresses(host: host, port: port, deadline: deadline)
        defer { freeaddrinfo(list) }
        var failure = SocketError("the host has no address")
        var next: UnsafeMutablePointer<addrinfo>? = list
        while let entry = next {
            next = entry.pointee.ai_next
            do throws(SocketError) {
                return BlockingSocket(descriptor: try open(entry.pointee, deadline: deadline))
            } catch {
                failure = error
                if error.timedOut { break }
            }
        }
        throw failure
    }

    private static func open(_ address: addrinfo, deadline: ContinuousClock.Instant) throws(SocketError) -> Int32 {
        let descriptor = socket(
            address.ai_family,
            address.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue),
            address.ai_protocol
        )
        guard descriptor >= 0 else { throw SocketError.system("cannot make a socket") }
        do throws(SocketError) {
            if Glibc.connect(descriptor, address.ai_addr, address.ai_addrlen) != 0 {
                guard errno == EINPROGRESS else { throw SocketError.system("cannot connect") }
                try wait(descriptor, for: Int16(POLLOUT), until: deadline, doing: "connecting")
                var problem: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &problem, &length) == 0 else {
                    throw SocketError.system("cannot connect")
                }
                guard problem == 0 else { throw SocketError("cannot connect: \(String(cString: strerror(problem)))") }
            }
            // Requests are written whole; Nagle's delay would only hold the last segment of one back.
            var on: Int32 = 1
            _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            return descriptor
        } catch {
            _ = Glibc.close(descriptor)
            throw error
        }
    }

    package init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close() }

    /// Whether ``close()`` has run (or a TLS failure closed the socket).
    package var isClosed: Bool { descriptor < 0 }

    /// Whether an idle connection can no longer carry a request: the peer closed it, reset it or sent something
    /// nobody asked for (all of which make it readable while idle).
    package var isStale: Bool {
        guard descriptor >= 0 else { return true }
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) != 0
    }

    /// Closes the connection (without a TLS close_notify: nothing is read after it). Idempotent.
    package func close() {
        tls = nil
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        descriptor = -1
    }

    /// Performs the TLS handshake on this connection; every later read and write is encrypted.
    package func startTLS(_ options: TLSOptions, deadline: ContinuousClock.Instant) throws(SocketError) {
        guard tls == nil else { throw SocketError("TLS has already started") }
        let session = try TLSSession(options)
        tls = session
        do throws(SocketError) {
            try session.handshake(self, deadline: deadline)
        } catch {
            close()
            throw error
        }
    }

    /// Writes all of `bytes` before the deadline.
    package func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(SocketError) {
        if let tls {
            try tls.write(bytes, through: self, deadline: deadline)
        } else {
            try writeRaw(bytes[...], deadline: deadline)
        }
    }

    /// Appends what arrives next (at least one byte, at most `limit`) to `buffer`; throws at end of stream.
    package func read(
        into buffer: inout [UInt8],
        limit: Int = 65_536,
        deadline: ContinuousClock.Instant
    ) throws(SocketError) {
        if let tls {
            try tls.read(into: &buffer, limit: limit, through: self, deadline: deadline)
        } else {
            try readRaw(into: &buffer, limit: limit, deadline: deadline)
        }
    }

    // MARK: - The plain socket (TLS writes its records through these)

    func writeRaw(_ bytes: ArraySlice<UInt8>, deadline: ContinuousClock.Instant) throws(SocketError) {
        var rest = bytes
        while !rest.isEmpty {
            guard descriptor >= 0 else { throw SocketError("the connection is closed") }
            // MSG_NOSIGNAL: a peer that has gone away is an error here, not a SIGPIPE for the whole process.
            let sent = rest.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent > 0 {
                rest = rest.dropFirst(sent)
            } else if sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                try Self.wait(descriptor, for: Int16(POLLOUT), until: deadline, doing: "writing")
            } else {
                throw SocketError.system("cannot write")
            }
        }
    }

    func readRaw(into buffer: inout [UInt8], limit: Int, deadline: ContinuousClock.Instant) throws(SocketError) {
        let count = max(1, min(limit, 16_384))
        while true {
            guard descriptor >= 0 else { throw SocketError("the connection is closed") }
            // Into a scratch buffer, then one copy of what arrived: no zero-filling of the whole read size.
            let (received, failure) = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { scratch in
                let received = recv(descriptor, scratch.baseAddress, count, 0)
                let failure = errno
                if received > 0 { buffer.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<received])) }
                return (received, failure)
            }
            if received > 0 { return }
            if received == 0 { throw SocketError("the connection was closed by the other end", endOfStream: true) }
            guard failure == EAGAIN || failure == EWOULDBLOCK || failure == EINTR else {
                throw SocketError("cannot read: \(String(cString: strerror(failure)))")
            }
            try Self.wait(descriptor, for: Int16(POLLIN), until: deadline, doing: "reading")
        }
    }

    /// Waits until the descriptor is ready for `events`, or throws once the deadline has passed.
    private static func wait(
        _ descriptor: Int32,
        for events: Int16,
        until deadline: ContinuousClock.Instant,
        doing what: String
    )
        throws(SocketError)
    {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw SocketError("timed out \(what)", timedOut: true) }
            let (seconds, attoseconds) = left.components
            // Rounded up, so a wait never ends just before its deadline and spins; capped to fit poll's Int32.
            let milliseconds = min(Int64(Int32.max), seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000 &+ 1)
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, Int32(milliseconds))
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw SocketError.system("cannot wait for the connection") }
        }
    }
}
