import FunctionRuntime
import WXAuthStore
import WeChat

/// A WeChat app's id and secret.
public struct AppCredentials: Sendable, Equatable {
    public var appid: String
    public var secret: Secret

    public init(appid: String, secret: Secret) {
        self.appid = appid
        self.secret = secret
    }
}

/// wxauth's settings (CONTRACT §6). Built from the environment by ``Config/init(environment:)``.
public struct Config: Sendable {
    /// The mini-program app (`WECHAT_APPID`, `WECHAT_SECRET`), for `POST /login`.
    public var miniProgram: AppCredentials?
    /// The official-account app, for web sign-in inside WeChat.
    public var officialAccount: AppCredentials?
    /// The open-platform website app, for QR sign-in.
    public var website: AppCredentials?
    public var wechatAPIBase: String = "https://api.weixin.qq.com"
    public var wechatOpenBase: String = "https://open.weixin.qq.com"
    /// `WXAUTH_JWT_SECRET`: the HS256 key when no signing key set is given, and the root of the derived data key.
    public var jwtSecret: Secret?
    /// The keys that sign (the first) and verify (all) access tokens (`WXAUTH_SIGNING_KEYS`).
    public var signingKeys: SigningKeySet
    /// The keys that seal (the first) and open (all) secrets at rest (`WXAUTH_DATA_KEYS`).
    public var dataKeys: DataKeyring
    public var issuer: String = "wxauth"
    public var audience: String = "wxauth"
    /// Access-token lifetime, seconds.
    public var accessTTL: Int64 = 900
    /// Refresh-token lifetime, seconds.
    public var refreshTTL: Int64 = 604_800
    public var databaseURL: DatabaseURL = .sqlite(path: ".wxauth/wxauth.sqlite")
    /// How long one invocation may run (`WXAUTH_FUNCTION_TIMEOUT`); bounds the database's connect and query timeouts.
    public var functionTimeout: Duration = .seconds(10)
    public var publicURL: String?
    public var returnTo: [String] = ["/"]

    /// The longest access or refresh lifetime accepted: 10 years of 365 days (CONTRACT §6).
    public static let maximumTTL: Int64 = 10 * 365 * 86_400

    /// The shortest JWT key accepted: HS256 wants at least as many key bytes as its output.
    public static let minimumSecretBytes = 32

    /// A configuration keyed by `WXAUTH_JWT_SECRET` alone: HS256 tokens and the derived data key.
    public init(jwtSecret: Secret) {
        self.init(
            jwtSecret: jwtSecret,
            signingKeys: SigningKeySet(secret: jwtSecret),
            dataKeys: DataKeyring(secret: jwtSecret)
        )
    }

    /// A configuration with explicit keyrings; `jwtSecret` is kept only as a root older values may need.
    public init(jwtSecret: Secret?, signingKeys: SigningKeySet, dataKeys: DataKeyring) {
        self.jwtSecret = jwtSecret
        self.signingKeys = signingKeys
        self.dataKeys = dataKeys
    }

    /// The mini-program app, or the error that names what is missing.
    public func requireMiniProgram() throws(AuthError) -> AppCredentials {
        guard let miniProgram else { throw .misconfigured("WECHAT_APPID and WECHAT_SECRET must be set") }
        return miniProgram
    }
}

/// Why the environment does not make a valid ``Config``. The text names the variable, never its value.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension Config {
    /// Reads CONTRACT §6's variables; `NAME_FILE` reads a value from a file. Empty values count as unset.
    public init(environment: [String: String]) throws(ConfigError) {
        let reader = EnvironmentReader(environment: environment)
        try self.init(keysFrom: reader)
        miniProgram = try reader.credentials("WECHAT_APPID", "WECHAT_SECRET")
        officialAccount = try reader.credentials("WECHAT_OA_APPID", "WECHAT_OA_SECRET")
        website = try reader.credentials("WECHAT_WEB_APPID", "WECHAT_WEB_SECRET")
        if let value = try reader.value("WECHAT_API_BASE") {
            wechatAPIBase = try reader.origin(value, "WECHAT_API_BASE")
        }
        if let value = try reader.value("WECHAT_OPEN_BASE") {
            wechatOpenBase = try reader.origin(value, "WECHAT_OPEN_BASE")
        }
        if let value = try reader.value("WXAUTH_ISSUER") { issuer = value }
        if let value = try reader.value("WXAUTH_AUDIENCE") { audience = value }
        if let value = try reader.value("WXAUTH_ACCESS_TTL") {
            accessTTL = try reader.seconds(value, "WXAUTH_ACCESS_TTL")
        }
        if let value = try reader.value("WXAUTH_REFRESH_TTL") {
            refreshTTL = try reader.seconds(value, "WXAUTH_REFRESH_TTL")
        }
        if let value = try reader.value("WXAUTH_DATABASE_URL") {
            guard let url = DatabaseURL(value) else {
                throw ConfigError(
                    description: "WXAUTH_DATABASE_URL must be sqlite:PATH or postgres://user:pass@host:port/db"
                )
            }
            if case .postgres(let text) = url {
                // Checked here so a malformed URL is a configuration error naming the part that is wrong.
                do { _ = try PostgresSettings(url: text) } catch { throw ConfigError(description: error.description) }
            }
            databaseURL = url
        }
        if let value = try reader.value("WXAUTH_FUNCTION_TIMEOUT") {
            functionTimeout = try reader.timeout(value, "WXAUTH_FUNCTION_TIMEOUT")
        }
        publicURL = try reader.value("WXAUTH_PUBLIC_URL")
        if let value = try reader.value("WXAUTH_RETURN_TO") {
            returnTo = value.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        }
    }
}

extension Config {
    /// The keyrings of CONTRACT §5 and §6: `WXAUTH_SIGNING_KEYS` and `WXAUTH_DATA_KEYS`, each defaulting to what
    /// `WXAUTH_JWT_SECRET` gives.
    init(keysFrom reader: EnvironmentReader) throws(ConfigError) {
        let secret = try reader.value("WXAUTH_JWT_SECRET").map(Secret.init)
        if let secret, secret.revealed.utf8.count < Self.minimumSecretBytes {
            throw ConfigError(
                description: "WXAUTH_JWT_SECRET must be at least \(Self.minimumSecretBytes) bytes "
                    + "(e.g. the output of openssl rand -hex 32)"
            )
        }
        let signingKeys: SigningKeySet
        if let text = try reader.value("WXAUTH_SIGNING_KEYS") {
            signingKeys = try SigningKeySet(jwkSet: text)
        } else if let secret {
            signingKeys = SigningKeySet(secret: secret)
        } else {
            throw ConfigError(
                description: "WXAUTH_JWT_SECRET is not set: set it to \(Self.minimumSecretBytes) or more random bytes "
                    + "(e.g. the output of openssl rand -hex 32), or set WXAUTH_SIGNING_KEYS and WXAUTH_DATA_KEYS "
                    + "(local-runner keys new makes them)"
            )
        }
        let dataKeys: DataKeyring
        if let text = try reader.value("WXAUTH_DATA_KEYS") {
            dataKeys = try DataKeyring(jwkSet: text, secret: secret)
        } else if let secret {
            dataKeys = DataKeyring(secret: secret)
        } else {
            throw ConfigError(
                description: "WXAUTH_DATA_KEYS is not set: with WXAUTH_SIGNING_KEYS, set it (or WXAUTH_JWT_SECRET)"
            )
        }
        self.init(jwtSecret: secret, signingKeys: signingKeys, dataKeys: dataKeys)
    }
}

/// Reads variables and their `_FILE` twins.
struct EnvironmentReader {
    var environment: [String: String]

    func value(_ name: String) throws(ConfigError) -> String? {
        if let direct = environment[name], !direct.isEmpty { return direct }
        guard let path = environment[name + "_FILE"], !path.isEmpty else { return nil }
        let contents: String
        do {
            contents = try FileText.read(path)
        } catch {
            switch error {
            case .unreadable: throw ConfigError(description: "\(name)_FILE names a file that cannot be read")
            case .tooLarge:
                throw ConfigError(description: "\(name)_FILE names a file larger than \(FileText.limit) bytes")
            case .notUTF8: throw ConfigError(description: "\(name)_FILE names a file that is not UTF-8 text")
            }
        }
        let trimmed = contents.trimmingSpaces()
        return trimmed.isEmpty ? nil : trimmed
    }

    func credentials(_ appidName: String, _ secretName: String) throws(ConfigError) -> AppCredentials? {
        let appid = try value(appidName)
        let secret = try value(secretName)
        switch (appid, secret) {
        case (nil, nil): return nil
        case (let appid?, let secret?): return AppCredentials(appid: appid, secret: Secret(secret))
        case (nil, _): throw ConfigError(description: "\(secretName) is set but \(appidName) is not")
        case (_, nil): throw ConfigError(description: "\(appidName) is set but \(secretName) is not")
        }
    }

    /// A lifetime in whole seconds, 1 s … 10 years: the bound keeps `now + ttl` far from overflowing.
    func seconds(_ text: String, _ name: String) throws(ConfigError) -> Int64 {
        guard let value = Int64(text), (1...Config.maximumTTL).contains(value) else {
            throw ConfigError(
                description: "\(name) must be a whole number of seconds from 1 to \(Config.maximumTTL) (10 years)"
            )
        }
        return value
    }

    /// `WXAUTH_FUNCTION_TIMEOUT`: seconds, 0 < t ≤ 900 (Lambda's longest invocation).
    func timeout(_ text: String, _ name: String) throws(ConfigError) -> Duration {
        guard let duration = FunctionTimeout.parse(text) else {
            throw ConfigError(
                description:
                    "\(name) must be a number of seconds greater than 0 and at most \(FunctionTimeout.maximumSeconds)"
            )
        }
        return duration
    }

    func origin(_ text: String, _ name: String) throws(ConfigError) -> String {
        guard text.hasPrefix("http://") || text.hasPrefix("https://") else {
            throw ConfigError(description: "\(name) must be an http:// or https:// URL")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}
