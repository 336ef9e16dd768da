import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the tests share: a TCP socket on 127.0.0.1 at a port the OS picks (port 0), and certificates.
package enum LoopbackSocket {
    /// Why a loopback socket could not be made.
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// A TCP socket bound to 127.0.0.1 on a free port; listening (with `backlog`) unless `listening` is false —
    /// a bound socket that does not listen holds a port that refuses connections, which no other test can take.
    /// The caller owns the descriptor.
    package static func make(listening: Bool = true, backlog: Int32 = 8) throws -> (descriptor: Int32, port: Int) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "cannot make a socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && (!listening || listen(descriptor, backlog) == 0)
                    && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard ready else {
            close(descriptor)
            throw Failure(description: "cannot bind a loopback port")
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1 with its key, and an unrelated one with the same
/// names, made by the openssl CLI in a temporary directory: a TLS test trusts one and not the other.
package struct TestCertificates: Sendable {
    package let directory: String
    package var server: String { directory + "/server.pem" }
    package var key: String { directory + "/server.key" }
    package var stranger: String { directory + "/stranger.pem" }

    package static func make() throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "wxauth-tls-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["server", "stranger"] {
            let openssl = try runChildProcessBlocking(
                URL(fileURLWithPath: "/usr/bin/env"),
                arguments: [
                    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", "\(directory)/\(name).key", "-out", "\(directory)/\(name).pem", "-subj",
                    "/CN=localhost", "-days", "2", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                ]
            )
            guard openssl.status == 0 else {
                throw LoopbackSocket.Failure(description: "openssl could not make a test certificate")
            }
        }
        return TestCertificates(directory: directory)
    }
}
