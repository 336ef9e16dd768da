import Encodings

/// Where and how to reach PostgreSQL, read from a `postgres://user:pass@host:port/db?sslmode=…` URL.
///
/// The URL carries the password, so nothing here ever prints it: errors name the part that is wrong, and
/// ``description`` leaves the password out.
public struct PostgresSettings: Sendable, CustomStringConvertible {
    /// libpq's `sslmode`.
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// Host name or IP address; `localhost` when the URL names none.
    public var host: String
    /// TCP port, 5432 unless the URL says otherwise.
    public var port: Int
    /// The user to sign in as (percent-decoded).
    public var username: String
    /// The password (percent-decoded), nil when the URL has none. Never printed.
    public var password: String?
    /// The database; nil means the server's default (the user's name).
    public var database: String?
    /// Whether and how to use TLS; plain unless the URL asks.
    public var sslMode: SSLMode
    /// A PEM file of the roots to trust for `verify-ca` and `verify-full` (libpq's `sslrootcert`); nil means
    /// the system's roots (`SSL_CERT_FILE`, `SSL_CERT_DIR`, else its hashed directory or bundle).
    public var rootCertificates: String?
    /// From `connect_timeout` (seconds, as libpq); nil leaves the choice to the store.
    public var connectTimeout: Duration?
    /// Run-time settings sent at start-up: `application_name`, and `-c name=value` pairs of `options`.
    public var startupParameters: [(String, String)]

    /// The setting the URL came from, named in every error.
    public static let settingName = "WXAUTH_DATABASE_URL"

    /// Parses a `postgres://` or `postgresql://` URL. Query parameters: `sslmode`, `sslrootcert`, `connect_timeout`,
    /// `application_name` and `options` (`-c name=value …`, e.g. a `search_path`), as libpq reads them.
    public init(url: String) throws(StoreError) {
        let text: Substring
        if url.hasPrefix("postgres://") {
            text = url.dropFirst("postgres://".count)
        } else if url.hasPrefix("postgresql://") {
            text = url.dropFirst("postgresql://".count)
        } else {
            throw Self.error("must start with postgres://")
        }
        let (location, query) = text.splitOnce("?")
        let (authority, path) = location.splitOnce("/")
        guard let at = authority.lastIndex(of: "@") else {
            throw Self.error("must name a user (postgres://user:pass@host/db)")
        }
        let (user, password) = authority[..<at].splitOnce(":")
        guard let username = PercentDecoding.strict(user), !username.isEmpty else {
            throw Self.error("must name a user")
        }
        self.username = username
        if let password {
            guard let decoded = PercentDecoding.strict(password) else {
                throw Self.error("has a badly escaped password")
            }
            self.password = decoded
        }
        (host, port) = try Self.hostAndPort(authority[authority.index(after: at)...])
        if let path, !path.isEmpty {
            guard let database = PercentDecoding.strict(path) else {
                throw Self.error("has a badly escaped database name")
            }
            self.database = database
        }
        sslMode = .disable
        startupParameters = []
        for pair in (query ?? "").split(separator: "&") {
            let (name, rawValue) = pair.splitOnce("=")
            guard let value = PercentDecoding.strict(rawValue ?? "") else {
                throw Self.error("has a badly escaped \(name)")
            }
            try apply(parameter: String(name), value: value)
        }
    }

    private mutating func apply(parameter name: String, value: String) throws(StoreError) {
        switch name {
        case "sslmode":
            guard let mode = SSLMode(rawValue: value) else {
                throw Self.error("sslmode must be one of " + SSLMode.allCases.map(\.rawValue).joined(separator: ", "))
            }
            sslMode = mode
        case "sslrootcert":
            guard !value.isEmpty else { throw Self.error("sslrootcert must name a file") }
            rootCertificates = value
        case "connect_timeout":
            guard let seconds = Int(value), seconds > 0 else {
                throw Self.error("connect_timeout must be whole seconds")
            }
            connectTimeout = .seconds(seconds)
        case "application_name":
            startupParameters.append(("application_name", value))
        case "options":
            startupParameters += try Self.runTimeOptions(value)
        default:
            throw Self.error("has an unknown parameter \(name)")
        }
    }

    /// `-c name=value -cname=value …` → pairs; anything else is refused rather than silently ignored.
    private static func runTimeOptions(_ text: String) throws(StoreError) -> [(String, String)] {
        var pairs: [(String, String)] = []
        var words = text.split(separator: " ")[...]
        while let word = words.popFirst() {
            let setting: Substring
            if word == "-c", let next = words.popFirst() {
                setting = next
            } else if word.hasPrefix("-c") {
                setting = word.dropFirst(2)
            } else {
                throw error("options may hold only -c name=value")
            }
            let (name, value) = setting.splitOnce("=")
            guard let value, !name.isEmpty else { throw error("options may hold only -c name=value") }
            pairs.append((String(name), String(value)))
        }
        return pairs
    }

    private static func hostAndPort(_ text: Substring) throws(StoreError) -> (String, Int) {
        var host = text
        var portText: Substring?
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            // An IPv6 literal: [::1]:5432.
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { portText = rest.dropFirst() }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        var port = 5432
        if let portText {
            guard let number = Int(portText), (1...65_535).contains(number) else { throw error("has a bad port") }
            port = number
        }
        return (host.isEmpty ? "localhost" : String(host), port)
    }

    /// An error naming the setting and the part of it that is wrong, never its value.
    public static func error(_ problem: String) -> StoreError {
        StoreError("\(settingName) \(problem)")
    }

    /// The URL without its password, for logs.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database ?? "") (sslmode=\(sslMode.rawValue))"
    }
}

extension Substring {
    /// The parts before and after the first `separator`; the second is nil when there is none.
    func splitOnce(_ separator: Character) -> (Substring, Substring?) {
        guard let found = firstIndex(of: separator) else { return (self, nil) }
        return (self[..<found], self[index(after: found)...])
    }
}
