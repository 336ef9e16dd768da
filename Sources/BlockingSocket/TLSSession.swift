import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a TLS client checks the server it reached.
package struct TLSOptions: Sendable {
    package enum Verification: Sendable {
        /// Encryption only: any certificate is accepted (libpq's `sslmode=require`).
        case none
        /// The chain must lead to a trusted root; any host name (libpq's `verify-ca`).
        case chain
        /// The chain, and the certificate must name ``TLSOptions/serverName`` (libpq's `verify-full`).
        case chainAndHost
    }

    package var verification: Verification
    /// The host name (or IP address) connected to: sent as SNI when a name, checked under ``Verification/chainAndHost``.
    package var serverName: String
    /// The roots to trust; nil means ``systemRoots``.
    package var trustedRoots: TrustedRoots?

    /// `rootCertificates`: a PEM file of the roots to trust; nil for the system's.
    package init(verification: Verification, serverName: String, rootCertificates: String? = nil) {
        self.verification = verification
        self.serverName = serverName
        self.trustedRoots = rootCertificates.map(TrustedRoots.bundle)
    }

    /// Where OpenSSL finds the roots it trusts.
    package enum TrustedRoots: Equatable, Sendable {
        /// A PEM file, read whole when a session starts. OpenSSL 3 takes 30–50 ms to read a system bundle of some
        /// 140 roots: on every cold start that talks HTTPS to WeChat, were it the default.
        case bundle(String)
        /// A directory of roots named by their subject hash (`update-ca-certificates`, `c_rehash`), or several
        /// separated by `:`: OpenSSL reads only the root a handshake needs, when it needs it.
        case hashedDirectory(String)
    }

    /// Where systems keep their roots one file per root, with subject-hash names.
    package static let hashedRootDirectories = [
        "/etc/ssl/certs",  // Debian, Ubuntu, Alpine
        "/etc/pki/ca-trust/extracted/pem/directory-hash",  // Amazon Linux 2023 (Lambda), Fedora, RHEL 9
        "/etc/pki/tls/certs",  // older Red Hat family, when rehashed
    ]

    /// The usual places of the system's bundle of trusted roots, in the order they are tried.
    package static let rootCertificateBundles = [
        "/etc/ssl/certs/ca-certificates.crt",  // Debian, Ubuntu, Alpine
        "/etc/pki/tls/certs/ca-bundle.crt",  // Amazon Linux (Lambda), CentOS, Tencent images
        "/etc/ssl/cert.pem",  // macOS, BSDs
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // Fedora, RHEL
    ]

    /// ``defaultRoots(environment:hashedDirectories:bundles:)`` as found once per process: the environment and the
    /// system's directories do not change while it runs, and each new connection would otherwise look again.
    package static let systemRoots = defaultRoots()

    /// The system's roots: `SSL_CERT_FILE` when set, else `SSL_CERT_DIR` when set (OpenSSL's own variables);
    /// else the first of `hashedDirectories` that holds subject-hash names, read lazily; else the first of
    /// `bundles` that exists. nil when there is none.
    package static func defaultRoots(
        environment: (String) -> String? = { name in getenv(name).map { String(cString: $0) } },
        hashedDirectories: [String] = hashedRootDirectories,
        bundles: [String] = rootCertificateBundles
    ) -> TrustedRoots? {
        if let file = environment("SSL_CERT_FILE"), !file.isEmpty { return .bundle(file) }
        if let directory = environment("SSL_CERT_DIR"), !directory.isEmpty { return .hashedDirectory(directory) }
        if let directory = hashedDirectories.first(where: holdsHashedRoots) { return .hashedDirectory(directory) }
        return bundles.first { access($0, R_OK) == 0 }.map(TrustedRoots.bundle)
    }

    /// Whether `directory` has a file named like `5ad8a5d6.0` (eight hex digits, a dot, a digit) among its first
    /// entries: what OpenSSL's directory lookup reads.
    static func holdsHashedRoots(_ directory: String) -> Bool {
        guard let handle = opendir(directory) else { return false }
        defer { closedir(handle) }
        for _ in 0..<4096 {
            guard let entry = readdir(handle) else { return false }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name.count == 10, name[8] == UInt8(ascii: "."),
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(name[9]),
                name[..<8].allSatisfy({ isHexDigit($0) })
            {
                return true
            }
        }
        return false
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}

/// One TLS client session over a ``BlockingSocket``. OpenSSL reads and writes memory buffers only; this class
/// moves the bytes between them and the socket, so every wait is the socket's own deadline-bounded wait and no
/// write can raise SIGPIPE.
final class TLSSession {
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    /// OpenSSL's input (bytes received from the socket) and output (bytes to send); owned by `ssl`.
    private let input: OpaquePointer
    private let output: OpaquePointer
    /// Scratch space for moving bytes between the socket and OpenSSL's buffers.
    private var received: [UInt8] = []
    private var outgoing = [UInt8](repeating: 0, count: 16_384)

    init(_ options: TLSOptions) throws(SocketError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TLSSession.failure("cannot make a TLS context")
        }
        self.context = context
        _ = wxauth_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION)
        // The key share goes for P-256 first: PostgreSQL's default `ssl_ecdh_curve` is prime256v1, and a server
        // that wants another group than the one offered costs a HelloRetryRequest (a round trip and a second key).
        _ = wxauth_SSL_CTX_set1_groups_list(context, "P-256:X25519:P-384")
        guard let ssl = SSL_new(context), let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_CTX_free(context)
            throw TLSSession.failure("cannot make a TLS session")
        }
        // An empty input buffer means "wait for more", not end of stream.
        _ = wxauth_BIO_set_mem_eof_return(input, -1)
        _ = wxauth_BIO_set_mem_eof_return(output, -1)
        SSL_set_bio(ssl, input, output)
        self.ssl = ssl
        self.input = input
        self.output = output
        SSL_set_connect_state(ssl)
        if !NameResolution.isIPAddress(options.serverName) {
            _ = wxauth_SSL_set_tlsext_host_name(ssl, options.serverName)
        }
        switch options.verification {
        case .none:
            SSL_set_verify(ssl, SSL_VERIFY_NONE, nil)
        case .chain, .chainAndHost:
            guard let roots = options.trustedRoots ?? TLSOptions.systemRoots, Self.trust(roots, in: context) else {
                throw Self.failure("cannot read the trusted root certificates")
            }
            SSL_set_verify(ssl, SSL_VERIFY_PEER, nil)
            if options.verification == .chainAndHost {
                let named: Int32
                if NameResolution.isIPAddress(options.serverName) {
                    named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), options.serverName)
                } else {
                    named = SSL_set1_host(ssl, options.serverName)
                }
                guard named == 1 else { throw Self.failure("cannot check the host name") }
            }
        }
    }

    private static func trust(_ roots: TLSOptions.TrustedRoots, in context: OpaquePointer) -> Bool {
        switch roots {
        case .bundle(let file): SSL_CTX_load_verify_locations(context, file, nil) == 1
        case .hashedDirectory(let directory): SSL_CTX_load_verify_locations(context, nil, directory) == 1
        }
    }

    deinit {
        SSL_free(ssl)  // frees both BIOs too
        SSL_CTX_free(context)
    }

    func handshake(_ socket: BlockingSocket, deadline: ContinuousClock.Instant) throws(SocketError) {
        _ = try drive(socket, deadline: deadline, doing: "TLS handshake") { SSL_do_handshake($0) }
    }

    func write(_ bytes: [UInt8], through socket: BlockingSocket, deadline: ContinuousClock.Instant) throws(SocketError)
    {
        var offset = 0
        while offset < bytes.count {
            let written = try drive(socket, deadline: deadline, doing: "TLS write") { ssl in
                bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + offset, Int32(clamping: $0.count - offset)) }
            }
            offset += Int(written)
        }
    }

    func read(
        into buffer: inout [UInt8],
        limit: Int,
        through socket: BlockingSocket,
        deadline: ContinuousClock.Instant
    )
        throws(SocketError)
    {
        let count = max(1, min(limit, 16_384))
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { (scratch) throws(SocketError) in
            let received = try drive(socket, deadline: deadline, doing: "TLS read") {
                SSL_read($0, scratch.baseAddress, Int32(count))
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<Int(received)]))
        }
    }

    /// Runs `step` until it succeeds, sending what OpenSSL wrote to its output buffer and feeding it what the
    /// socket brings whenever it wants to read.
    private func drive(
        _ socket: BlockingSocket,
        deadline: ContinuousClock.Instant,
        doing what: String,
        _ step: (OpaquePointer) -> Int32
    ) throws(SocketError) -> Int32 {
        while true {
            ERR_clear_error()
            let result = step(ssl)
            let problem = SSL_get_error(ssl, result)
            try flush(socket, deadline: deadline)
            if result > 0 { return result }
            switch problem {
            case SSL_ERROR_WANT_READ:
                received.removeAll(keepingCapacity: true)
                try socket.readRaw(into: &received, limit: 16_384, deadline: deadline)
                let taken = received.withUnsafeBytes { BIO_write(input, $0.baseAddress, Int32($0.count)) }
                guard taken == Int32(received.count) else { throw Self.failure("\(what) failed") }
            case SSL_ERROR_WANT_WRITE:
                continue
            case SSL_ERROR_ZERO_RETURN:
                throw SocketError("the connection was closed by the other end", endOfStream: true)
            case SSL_ERROR_SSL where SSL_get_verify_result(ssl) != Int(X509_V_OK):
                let reason = String(cString: X509_verify_cert_error_string(SSL_get_verify_result(ssl)))
                throw SocketError("the server's certificate is not trusted: \(reason)")
            default:
                throw Self.failure("\(what) failed")
            }
        }
    }

    /// Sends everything waiting in OpenSSL's output buffer.
    private func flush(_ socket: BlockingSocket, deadline: ContinuousClock.Instant) throws(SocketError) {
        while BIO_ctrl_pending(output) > 0 {
            let count = outgoing.withUnsafeMutableBytes { BIO_read(output, $0.baseAddress, Int32($0.count)) }
            guard count > 0 else { break }
            try socket.writeRaw(outgoing[..<Int(count)], deadline: deadline)
        }
    }

    /// An error with OpenSSL's first queued reason, which names no secret (certificates are public).
    private static func failure(_ what: String) -> SocketError {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0, let reason = ERR_reason_error_string(code) else { return SocketError(what) }
        return SocketError("\(what): \(String(cString: reason))")
    }
}
