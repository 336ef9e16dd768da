import BlockingSocket
import COpenSSL
import Foundation
import TestSupport
import Testing

/// BlockingSocket's TLS against a loopback TLS server (OpenSSL) with certificates made by the openssl CLI:
/// each verification mode accepts what it should and refuses what it should.
@Suite struct TLSTests {
    static let certificates = try! TestCertificates.make()

    /// Connects to a one-shot echo server with `options`; returns what came back, or throws the client's error.
    static func echo(_ options: TLSOptions) async throws -> String {
        let certificates = Self.certificates
        let server = try EchoServer(certificate: certificates.server, key: certificates.key)
        let worker = WorkerThread()
        defer { worker.stop() }
        return try await worker.run {
            let socket = try BlockingSocket.connect(host: "127.0.0.1", port: server.port, deadline: .now + .seconds(10))
            defer { socket.close() }
            try socket.startTLS(options, deadline: .now + .seconds(10))
            try socket.write(Array("ping".utf8), deadline: .now + .seconds(10))
            var answer: [UInt8] = []
            while answer.count < 4 { try socket.read(into: &answer, deadline: .now + .seconds(10)) }
            return String(decoding: answer, as: UTF8.self)
        }
    }

    /// The client's error when `options` refuse the echo server; a test issue when they let the ping through.
    @discardableResult
    static func refusal(
        _ options: TLSOptions,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> SocketError? {
        await #expect(throws: SocketError.self, sourceLocation: sourceLocation) { _ = try await Self.echo(options) }
    }

    @Test func verifyFullWithTheRightRootAndNamePasses() async throws {
        let root = Self.certificates.server
        #expect(
            try await Self.echo(
                TLSOptions(verification: .chainAndHost, serverName: "localhost", rootCertificates: root)
            ) == "ping"
        )
        #expect(
            try await Self.echo(
                TLSOptions(verification: .chainAndHost, serverName: "127.0.0.1", rootCertificates: root)
            ) == "ping"
        )
    }

    @Test func verifyFullRefusesAnotherHostName() async throws {
        let root = Self.certificates.server
        await Self.refusal(
            TLSOptions(verification: .chainAndHost, serverName: "db.example.com", rootCertificates: root)
        )
    }

    @Test func verifyCAChecksTheChainButNotTheName() async throws {
        let root = Self.certificates.server
        #expect(
            try await Self.echo(TLSOptions(verification: .chain, serverName: "db.example.com", rootCertificates: root))
                == "ping"
        )
        let stranger = Self.certificates.stranger
        await Self.refusal(TLSOptions(verification: .chain, serverName: "localhost", rootCertificates: stranger))
    }

    @Test func anUnknownRootIsRefused() async throws {
        let stranger = Self.certificates.stranger
        let error = await Self.refusal(
            TLSOptions(verification: .chainAndHost, serverName: "localhost", rootCertificates: stranger)
        )
        #expect(error?.description.contains("not trusted") == true)
    }

    /// A directory like the system's `/etc/ssl/certs`: `root` under its subject-hash name.
    static func hashedDirectory(holding root: String) throws -> String {
        let directory = NSTemporaryDirectory() + "wxauth-roots-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = try #require(fopen(root, "r"))
        defer { fclose(file) }
        let certificate = try #require(PEM_read_X509(file, nil, nil, nil))
        defer { X509_free(certificate) }
        let name = String(format: "%08lx.0", X509_subject_name_hash(certificate))
        try FileManager.default.copyItem(atPath: root, toPath: directory + "/" + name)
        return directory
    }

    @Test func rootsInAHashedDirectoryAreReadWhenNeeded() async throws {
        var trusting = TLSOptions(verification: .chainAndHost, serverName: "localhost")
        let (ours, theirs) = (
            try Self.hashedDirectory(holding: Self.certificates.server),
            try Self.hashedDirectory(holding: Self.certificates.stranger)
        )
        defer { for directory in [ours, theirs] { try? FileManager.default.removeItem(atPath: directory) } }
        trusting.trustedRoots = .hashedDirectory(ours)
        #expect(try await Self.echo(trusting) == "ping")
        var doubting = trusting
        doubting.trustedRoots = .hashedDirectory(theirs)
        await Self.refusal(doubting)
    }

    @Test func systemRootsComeFromTheEnvironmentThenAHashedDirectoryThenABundle() throws {
        let hashed = try Self.hashedDirectory(holding: Self.certificates.server)
        let plain = NSTemporaryDirectory() + "wxauth-plain-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: plain + "/sub", withIntermediateDirectories: true)
        defer { for directory in [hashed, plain] { try? FileManager.default.removeItem(atPath: directory) } }
        try Data("not a root".utf8).write(to: URL(fileURLWithPath: plain + "/ca-bundle.crt"))
        let bundle = Self.certificates.server
        func roots(_ environment: [String: String], _ directories: [String]) -> TLSOptions.TrustedRoots? {
            TLSOptions.defaultRoots(
                environment: { environment[$0] },
                hashedDirectories: directories,
                bundles: ["/nonexistent/bundle.pem", bundle]
            )
        }
        #expect(roots(["SSL_CERT_FILE": "/x/roots.pem", "SSL_CERT_DIR": "/x"], [hashed]) == .bundle("/x/roots.pem"))
        #expect(roots(["SSL_CERT_DIR": "/x:/y"], [hashed]) == .hashedDirectory("/x:/y"))
        // A directory without subject-hash names (a bundle and a folder) is passed over, as is a missing one.
        #expect(roots([:], ["/nonexistent", plain, hashed]) == .hashedDirectory(hashed))
        #expect(roots([:], [plain]) == .bundle(bundle))
        #expect(TLSOptions.defaultRoots(environment: { _ in nil }, hashedDirectories: [], bundles: []) == nil)
    }

    @Test func requireAcceptsAnyCertificate() async throws {
        #expect(try await Self.echo(TLSOptions(verification: .none, serverName: "db.example.com")) == "ping")
    }
}

/// A TLS server on a loopback port that accepts one connection, answers it with what it reads (up to 4 bytes),
/// and ends; a client that gives up on the handshake just ends it sooner.
final class EchoServer: Sendable {
    let port: Int

    init(certificate: String, key: String) throws {
        let (listener, port) = try LoopbackSocket.make(backlog: 1)
        self.port = port
        let context = SSL_CTX_new(TLS_server_method())
        try #require(SSL_CTX_use_certificate_file(context, certificate, SSL_FILETYPE_PEM) == 1)
        try #require(SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1)
        let worker = WorkerThread()
        worker.enqueue {
            defer {
                SSL_CTX_free(context)
                close(listener)
            }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            defer { close(connection) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            _ = setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let ssl = SSL_new(context)
            defer { SSL_free(ssl) }
            _ = SSL_set_fd(ssl, connection)
            guard SSL_accept(ssl) == 1 else { return }
            var buffer = [UInt8](repeating: 0, count: 4)
            var received = 0
            while received < 4 {
                let count = buffer.withUnsafeMutableBytes {
                    SSL_read(ssl, $0.baseAddress! + received, Int32(4 - received))
                }
                guard count > 0 else { return }
                received += Int(count)
            }
            _ = buffer.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, 4) }
            _ = SSL_shutdown(ssl)
        }
        worker.stop()
    }
}
