import BlockingSocket
import PostgresWire
import WXAuthStore

/// How the parsed URL becomes the wire client's options: this half of the settings links the client and
/// OpenSSL, so it lives here, apart from the parsing every function binary uses.
extension PostgresSettings {
    /// The connection options for these settings: libpq's `sslmode` meanings, trust roots from `sslrootcert`,
    /// else the system's (``TLSOptions/defaultRoots(environment:hashedDirectories:bundles:)``).
    package var connectionOptions: PostgresConnectionOptions {
        func tls(_ verification: TLSOptions.Verification) -> TLSOptions {
            TLSOptions(verification: verification, serverName: host, rootCertificates: rootCertificates)
        }
        let mode: PostgresConnectionOptions.TLSMode =
            switch sslMode {
            case .disable: .disable
            case .allow, .prefer: .prefer(tls(.none))
            case .require: .require(tls(.none))
            case .verifyCA: .require(tls(.chain))
            case .verifyFull: .require(tls(.chainAndHost))
            }
        return PostgresConnectionOptions(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: mode,
            startupParameters: startupParameters
        )
    }
}
