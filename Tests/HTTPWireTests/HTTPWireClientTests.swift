import BlockingSocket
import COpenSSL
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import HTTPWire

#if canImport(Glibc)
import Glibc
#endif

/// The client over real loopback sockets, against a scripted server on a port the OS picks.
struct HTTPWireClientTests {
    /// `GET target` through `client`, on a thread of its own (the client blocks); the Host header is the
    /// origin's unless `host` says otherwise.
    static func get(
        _ client: HTTPWireClient,
        _ origin: HTTPWireClient.Origin,
        target: String = "/",
        host: String? = nil,
        deadline: ContinuousClock.Instant = .now + .seconds(10)
    ) async throws(HTTPWireError) -> HTTPWireResponse {
        try await onOwnThread { () throws(HTTPWireError) in
            try client.send(
                HTTPWireRequest(method: "GET", target: target, host: host ?? origin.hostHeader),
                to: origin,
                bodyLimit: 100,
                deadline: deadline
            )
        }
    }

    @Test func anExchangeKeepsItsConnectionForTheNextRequest() async throws {
        let server = try ScriptedServer { _ in "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" }
        let client = HTTPWireClient()
        let origin = HTTPWireClient.Origin(secure: false, host: "127.0.0.1", port: server.port)
        for _ in 0..<3 {
            let response = try await Self.get(client, origin, target: "/x")
            #expect(response.status == 200 && response.body == Array("ok".utf8))
        }
        #expect(server.connections == 1, "three requests, one connection")
        #expect(server.requests.first?.hasPrefix("GET /x HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n") == true)
    }

    @Test func aConnectionTheServerClosesIsNotReused() async throws {
        let server = try ScriptedServer { _ in "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok" }
        let client = HTTPWireClient()
        let origin = HTTPWireClient.Origin(secure: false, host: "127.0.0.1", port: server.port)
        for _ in 0..<2 {
            _ = try await Self.get(client, origin)
        }
        #expect(server.connections == 2)
    }

    @Test func aSilentServerCostsTheDeadlineNotAHang() async throws {
        let server = try ScriptedServer { _ in nil }
        let origin = HTTPWireClient.Origin(secure: false, host: "127.0.0.1", port: server.port)
        let started = ContinuousClock.now
        let error = await #expect(throws: HTTPWireError.self) {
            try await Self.get(HTTPWireClient(), origin, deadline: .now + .milliseconds(300))
        }
        #expect(error?.isTimeout == true)
        #expect(error?.mayHaveReachedServer == true)
        #expect(ContinuousClock.now - started < .seconds(5))
        withExtendedLifetime(server) {}
    }

    @Test func aRefusedConnectionSurelyDidNotReachTheServer() async throws {
        // A port held by a bound socket that does not listen: refused, and no other test can take the port.
        let (holder, port) = try LoopbackSocket.make(listening: false)
        defer { close(holder) }
        let origin = HTTPWireClient.Origin(secure: false, host: "127.0.0.1", port: port)
        let error = await #expect(throws: HTTPWireError.self) {
            try await Self.get(HTTPWireClient(), origin, deadline: .now + .seconds(5))
        }
        #expect(error?.mayHaveReachedServer == false)
    }

    @Test func httpsChecksTheCertificateAndItsName() async throws {
        let certificates = try TestCertificates.make()
        let server = try TLSAnswerServer(certificate: certificates.server, key: certificates.key)
        let origin = HTTPWireClient.Origin(secure: true, host: "localhost", port: server.port)
        let trusting = HTTPWireClient(connector: HTTPWireClient.connector(rootCertificates: certificates.server))
        let response = try await Self.get(trusting, origin)
        #expect(response.status == 200 && response.body == Array("over tls".utf8))

        // The same server under a root that did not sign it: refused in the handshake, before any request byte.
        let doubting = HTTPWireClient(connector: HTTPWireClient.connector(rootCertificates: certificates.stranger))
        let error = await #expect(throws: HTTPWireError.self) {
            try await Self.get(doubting, origin)
        }
        #expect(error?.mayHaveReachedServer == false)
        #expect(error?.description.contains("not trusted") == true, "\(error?.description ?? "-")")
        // And under the right root but another name.
        let misnamed = HTTPWireClient.Origin(secure: true, host: "127.0.0.2", port: server.port)
        await #expect(throws: HTTPWireError.self) {
            try await Self.get(trusting, misnamed, host: "x")
        }
    }
}

/// A TLS server on a loopback port that answers every connection's request with one fixed HTTP response.
final class TLSAnswerServer: Sendable {
    let port: Int
    private let listener: Int32

    init(certificate: String, key: String) throws {
        let (listener, port) = try LoopbackSocket.make()
        self.listener = listener
        self.port = port
        let context = SSL_CTX_new(TLS_server_method())
        try #require(SSL_CTX_use_certificate_file(context, certificate, SSL_FILETYPE_PEM) == 1)
        try #require(SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1)
        let box = ContextBox(context: context)
        Task.detached {
            await onOwnThread {
                while true {
                    let connection = accept(listener, nil, nil)
                    guard connection >= 0 else {
                        close(listener)
                        return
                    }
                    var timeout = timeval(tv_sec: 10, tv_usec: 0)
                    _ = setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                    let ssl = SSL_new(box.context)
                    _ = SSL_set_fd(ssl, connection)
                    if SSL_accept(ssl) == 1 {
                        var buffer = [UInt8](repeating: 0, count: 4096)
                        var request: [UInt8] = []
                        while !request.suffix(4).elementsEqual([13, 10, 13, 10]) {
                            let count = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
                            guard count > 0 else { break }
                            request += buffer[..<Int(count)]
                        }
                        let answer = Array(
                            "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nover tls".utf8
                        )
                        _ = answer.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
                        _ = SSL_shutdown(ssl)
                    }
                    SSL_free(ssl)
                    close(connection)
                }
            }
        }
    }

    /// Wakes the accept loop, which then closes the socket.
    deinit { shutdown(listener, Int32(SHUT_RDWR)) }
}

private struct ContextBox: @unchecked Sendable {
    let context: OpaquePointer?
}

/// A loopback server on a thread of its own: answers each request on a connection with `answer(request)`
/// (nil: stays silent), keeps connections open until the client closes them, and counts them.
final class ScriptedServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let log = ServerLog()
    var connections: Int { log.state.withLock { $0.connections } }
    var requests: [String] { log.state.withLock { $0.requests } }

    init(answer: @escaping @Sendable (String) -> String?) throws {
        let (fd, port) = try LoopbackSocket.make()
        listener = fd
        self.port = port
        let log = self.log
        Self.spawn {
            while true {
                let connection = accept(fd, nil, nil)
                guard connection >= 0 else {
                    // Closed here, by the only thread using it: closed in deinit, its number could be reused by
                    // another test's socket while this thread still calls accept on it.
                    close(fd)
                    return
                }
                log.state.withLock { $0.connections += 1 }
                Self.spawn {
                    defer { close(connection) }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    var pending = ""
                    while true {
                        let count = recv(connection, &buffer, buffer.count, 0)
                        guard count > 0 else { return }
                        pending += String(decoding: buffer[..<count], as: UTF8.self)
                        guard pending.contains("\r\n\r\n") else { continue }
                        log.state.withLock { $0.requests.append(pending) }
                        let request = pending
                        pending = ""
                        guard let reply = answer(request) else { continue }
                        _ = Array(reply.utf8).withUnsafeBytes {
                            send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                        }
                        if reply.contains("Connection: close") { return }
                    }
                }
            }
        }
    }

    /// Wakes the accept loop, which then closes the socket.
    deinit { shutdown(listener, Int32(SHUT_RDWR)) }

    private static func spawn(_ body: @escaping @Sendable () -> Void) {
        Task.detached { await onOwnThreadIgnoringErrors(body) }
    }
}

/// What the server saw, shared with its threads (which must not keep the server itself alive).
final class ServerLog: Sendable {
    let state = Mutex<(connections: Int, requests: [String])>((0, []))
}

private func onOwnThreadIgnoringErrors(_ body: @escaping @Sendable () -> Void) async {
    await onOwnThread { body() }
}
