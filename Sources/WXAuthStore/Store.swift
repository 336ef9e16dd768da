/// A user: one person, possibly signed in through several WeChat apps (linked by unionid).
public struct UserRecord: Sendable, Equatable {
    public var id: String
    public var unionid: String?
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(id: String, unionid: String?, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.unionid = unionid
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a sign-in writes: the WeChat identity, and a new refresh-token family with its first token.
public struct SignInRecord: Sendable {
    public var appid: String
    public var openid: String
    public var unionid: String?
    /// session_key, already encrypted by the caller; the store never sees it in clear.
    public var sealedSessionKey: [UInt8]?
    /// The id a new user gets if this identity is new and no user has its unionid.
    public var newUserId: String
    public var familyId: String
    /// SHA-256 of the first refresh token; the token itself is never stored.
    public var refreshTokenHash: [UInt8]
    public var refreshExpiresAt: Int64
    public var now: Int64

    public init(
        appid: String, openid: String, unionid: String?, sealedSessionKey: [UInt8]?, newUserId: String,
        familyId: String, refreshTokenHash: [UInt8], refreshExpiresAt: Int64, now: Int64
    ) {
        self.appid = appid
        self.openid = openid
        self.unionid = unionid
        self.sealedSessionKey = sealedSessionKey
        self.newUserId = newUserId
        self.familyId = familyId
        self.refreshTokenHash = refreshTokenHash
        self.refreshExpiresAt = refreshExpiresAt
        self.now = now
    }
}

/// A sign-in session as `userinfo` and `refresh` see it: the family and whom it belongs to.
public struct SessionRecord: Sendable, Equatable {
    public var familyId: String
    public var user: UserRecord
    public var appid: String
    public var openid: String
    public var revoked: Bool

    public init(familyId: String, user: UserRecord, appid: String, openid: String, revoked: Bool) {
        self.familyId = familyId
        self.user = user
        self.appid = appid
        self.openid = openid
        self.revoked = revoked
    }
}

/// What presenting a refresh token led to.
public enum RotationOutcome: Sendable, Equatable {
    /// The token was live; it is now spent and the new one replaces it.
    case rotated(SessionRecord)
    /// No such token.
    case unknown
    /// The token's lifetime is over.
    case expired
    /// Its family was revoked (sign-out or earlier reuse).
    case revoked
    /// The token was already spent: a replay. Its whole family is now revoked.
    case reused
}

/// The persistence wxauth needs. Every method is atomic; implementations must be safe to call from many
/// processes at once (a FaaS runs many instances).
public protocol Store: Sendable {
    /// Creates or updates the identity (appid, openid), linking it by unionid to an existing user when one has it,
    /// and opens a new refresh-token family with its first token. Returns the user.
    func signIn(_ record: SignInRecord) async throws -> UserRecord

    /// Spends `presentedHash` and stores `newHash` in its place — one conditional update, so of many
    /// concurrent callers exactly one gets `.rotated`. Presenting a spent token revokes the family.
    func rotateRefreshToken(presentedHash: [UInt8], newHash: [UInt8], newExpiresAt: Int64, now: Int64) async throws
        -> RotationOutcome

    /// The family's session, or nil when there is no such family.
    func session(familyId: String) async throws -> SessionRecord?

    /// The family the refresh token belongs to, or nil when the token is unknown.
    func familyId(forRefreshTokenHash hash: [UInt8]) async throws -> String?

    /// Revokes a family (sign-out); its refresh tokens stop working and its access tokens are refused.
    func revokeFamily(id: String, now: Int64) async throws

    /// The encrypted session_key stored for an identity.
    func sealedSessionKey(appid: String, openid: String) async throws -> [UInt8]?
}

/// A failure inside a store; the text names the operation, never data.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
