import NIOCore
import NIOSSL
import PostgresNIO
import WXAuthStore

/// How the parsed URL becomes a postgres-nio connection: this half of the settings links postgres-nio and
/// NIOSSL, so it lives here, apart from the parsing every function binary uses.
extension PostgresSettings {
    /// postgres-nio's configuration for these settings. Builds the TLS context only when the URL asks for TLS.
    public func connectionConfiguration(connectTimeout fallback: Duration) throws(StoreError) -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch sslMode {
            case .disable:
                tls = .disable
            case .allow, .prefer:
                tls = .prefer(try NIOSSLContext(configuration: Self.tlsConfiguration(verification: .none)))
            case .require:
                tls = .require(try NIOSSLContext(configuration: Self.tlsConfiguration(verification: .none)))
            case .verifyCA:
                tls = .require(try NIOSSLContext(configuration: Self.tlsConfiguration(verification: .noHostnameVerification)))
            case .verifyFull:
                tls = .require(try NIOSSLContext(configuration: Self.tlsConfiguration(verification: .fullVerification)))
            }
        } catch {
            throw Self.error("asks for TLS, but no TLS context could be made")
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls
        )
        configuration.options.connectTimeout = TimeAmount(connectTimeout ?? fallback)
        configuration.options.additionalStartupParameters = startupParameters
        // Backend key data only serves query cancellation, which wxauth never sends; RDS Proxy does not provide it.
        configuration.options.requireBackendKeyData = false
        return configuration
    }

    private static func tlsConfiguration(verification: CertificateVerification) -> TLSConfiguration {
        // The client default trusts the system's roots and, with full verification, checks the host name too.
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = verification
        return configuration
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
