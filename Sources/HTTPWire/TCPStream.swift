#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A byte stream an HTTP exchange runs over: a TCP connection, or TLS on one.
package protocol ByteStream: AnyObject {
    /// Writes all of `bytes`, giving up at `deadline` (nil: no limit).
    func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant?) throws(HTTPWireError)
    /// Reads what has arrived — at least one byte, at most `buffer.count` — into `buffer`, waiting until
    /// `deadline`; 0 when the peer has closed the stream.
    func read(into buffer: inout [UInt8], deadline: ContinuousClock.Instant?) throws(HTTPWireError) -> Int
    /// Whether an idle connection can no longer carry a request: the peer closed it or sent something unasked.
    var isStale: Bool { get }
}

/// A TCP connection in non-blocking mode, every wait bounded by `poll`: connecting, writing and reading all
/// honour the caller's deadline, so a silent peer costs a timeout, never a hung function.
package final class TCPStream: ByteStream {
    package let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { _ = systemClose(descriptor) }

    /// Connects to `host:port`, trying each address the name resolves to until one answers or `deadline` passes.
    /// (Name resolution itself is the C library's and cannot be bounded; it is local on every platform here.)
    package static func connect(host: String, port: Int, deadline: ContinuousClock.Instant?) throws(HTTPWireError) -> TCPStream {
        guard (1...65_535).contains(port) else {
            throw HTTPWireError("port \(port) is out of range", mayHaveReachedServer: false)
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc) || canImport(Musl)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw HTTPWireError("cannot resolve the host name", mayHaveReachedServer: false)
        }
        defer { freeaddrinfo(list) }
        var failure = HTTPWireError("cannot connect", mayHaveReachedServer: false)
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype | socketCloseOnExec, current.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            let stream = TCPStream(descriptor: fd)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            // Requests are written whole: no reason to wait for more before sending.
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if systemConnect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 { return stream }
            guard errno == EINPROGRESS else { continue }
            do {
                try stream.wait(for: Int16(POLLOUT), until: deadline, step: "connecting")
            } catch {
                failure = HTTPWireError(error.description, mayHaveReachedServer: false, isTimeout: error.isTimeout)
                if error.isTimeout { throw failure }
                continue
            }
            var problem: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &problem, &length)
            if problem == 0 { return stream }
        }
        throw failure
    }

    package func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant?) throws(HTTPWireError) {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress! + sent, $0.count - sent, sendNoSignal) }
            if count > 0 {
                sent += count
            } else if count < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                try wait(for: Int16(POLLOUT), until: deadline, step: "sending")
            } else {
                throw HTTPWireError("the connection failed while sending", mayHaveReachedServer: sent > 0)
            }
        }
    }

    package func read(into buffer: inout [UInt8], deadline: ContinuousClock.Instant?) throws(HTTPWireError) -> Int {
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if count >= 0 { return count }
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                throw HTTPWireError("the connection failed while receiving")
            }
            try wait(for: Int16(POLLIN), until: deadline, step: "waiting for the answer")
        }
    }

    package var isStale: Bool {
        var probe = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        // Readable while idle means closed (EOF), reset, or bytes nobody asked for: none of them reusable.
        return poll(&probe, 1, 0) != 0
    }

    /// Waits until the socket is ready for `events`, or throws once `deadline` passes.
    package func wait(for events: Int16, until deadline: ContinuousClock.Instant?, step: String) throws(HTTPWireError) {
        while true {
            var timeout: Int32 = -1
            if let deadline {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { throw HTTPWireError("timed out \(step)", isTimeout: true) }
                let (seconds, attoseconds) = left.components
                // Rounded up, so a wait never ends just before the deadline and spins; capped to fit poll's int.
                let milliseconds = min(Int64(Int32.max), seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000 &+ 1)
                timeout = Int32(milliseconds)
            }
            var probe = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&probe, 1, timeout)
            if ready > 0 { return }
            if ready < 0, errno != EINTR { throw HTTPWireError("the connection failed while \(step)") }
        }
    }
}

#if canImport(Glibc) || canImport(Musl)
private let socketCloseOnExec = Int32(SOCK_CLOEXEC.rawValue)
/// A peer that closed must be an error here, not a SIGPIPE that kills the function.
private let sendNoSignal = Int32(MSG_NOSIGNAL)
#else
private let socketCloseOnExec: Int32 = 0
private let sendNoSignal: Int32 = 0
#endif

private func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(fd)
    #elseif canImport(Musl)
    Musl.close(fd)
    #else
    Darwin.close(fd)
    #endif
}

private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> Int32 {
    #if canImport(Glibc)
    Glibc.connect(fd, address, length)
    #elseif canImport(Musl)
    Musl.connect(fd, address, length)
    #else
    Darwin.connect(fd, address, length)
    #endif
}
