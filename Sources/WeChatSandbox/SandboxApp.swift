/// An app registered with the sandbox: the `appid` and `secret` its backend must present.
public struct SandboxApp: Sendable, Hashable, Codable {
    /// The app's id, e.g. `wx4f4bc4dec97d474b`.
    public var appid: String
    /// The app's AppSecret.
    public var secret: String

    /// Creates an app with the given credentials.
    public init(appid: String, secret: String) {
        self.appid = appid
        self.secret = secret
    }
}
