/// A web sign-in between `GET /login` and its callback: which app and scope it asked WeChat for, and where
/// the browser goes afterwards. Its id is the random part of the signed `state`.
public struct WebStateRecord: Sendable, Equatable {
    public var id: String
    /// The official-account or website app the user was sent to.
    public var appid: String
    /// `snsapi_base`, `snsapi_userinfo` or `snsapi_login`.
    public var scope: String
    /// The allow-listed path or URL the callback redirects to.
    public var returnTo: String
    /// Seconds since the epoch.
    public var expiresAt: Int64

    public init(id: String, appid: String, scope: String, returnTo: String, expiresAt: Int64) {
        self.id = id
        self.appid = appid
        self.scope = scope
        self.returnTo = returnTo
        self.expiresAt = expiresAt
    }
}

/// What presenting a state with a code to the callback found.
public enum WebStateClaim: Sendable, Equatable {
    /// First use: the state is now bound to this code, and the caller exchanges it.
    case claimed(WebStateRecord)
    /// The same state with the same code again (WeChat and browsers repeat callbacks): the sealed outcome
    /// of the first callback, or nil while that one is still running.
    case repeated(WebStateRecord, sealedOutcome: [UInt8]?)
    /// The state was already used with another code: a replay.
    case replayed
    /// No such state, or it expired.
    case unknown
}
