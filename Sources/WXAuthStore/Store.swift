/// What a user shared of themselves: the WeChat profile and a verified phone number. Every field is optional.
public struct UserProfile: Sendable, Equatable {
    public var nickname: String?
    public var picture: String?
    /// WeChat's 0 unknown, 1 male, 2 female.
    public var gender: Int?
    public var city: String?
    public var province: String?
    public var country: String?
    public var language: String?
    /// The phone number as WeChat verified it (`purePhoneNumber`).
    public var phoneNumber: String?
    public var phoneCountryCode: String?

    public init(
        nickname: String? = nil,
        picture: String? = nil,
        gender: Int? = nil,
        city: String? = nil,
        province: String? = nil,
        country: String? = nil,
        language: String? = nil,
        phoneNumber: String? = nil,
        phoneCountryCode: String? = nil
    ) {
        self.nickname = nickname
        self.picture = picture
        self.gender = gender
        self.city = city
        self.province = province
        self.country = country
        self.language = language
        self.phoneNumber = phoneNumber
        self.phoneCountryCode = phoneCountryCode
    }

    /// This profile with every field `newer` has replacing the old value.
    public func merging(_ newer: UserProfile) -> UserProfile {
        UserProfile(
            nickname: newer.nickname ?? nickname,
            picture: newer.picture ?? picture,
            gender: newer.gender ?? gender,
            city: newer.city ?? city,
            province: newer.province ?? province,
            country: newer.country ?? country,
            language: newer.language ?? language,
            phoneNumber: newer.phoneNumber ?? phoneNumber,
            phoneCountryCode: newer.phoneNumber != nil ? newer.phoneCountryCode : phoneCountryCode
        )
    }
}

/// A user: one person, possibly signed in through several WeChat apps (linked by unionid).
public struct UserRecord: Sendable, Equatable {
    public var id: String
    public var unionid: String?
    public var createdAt: Int64
    public var updatedAt: Int64
    public var profile: UserProfile

    public init(id: String, unionid: String?, createdAt: Int64, updatedAt: Int64, profile: UserProfile = UserProfile())
    {
        self.id = id
        self.unionid = unionid
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.profile = profile
    }
}

/// The app access token shared by every instance, encrypted by the caller.
public struct CachedAppToken: Sendable, Equatable {
    public var sealedToken: [UInt8]
    /// Seconds since the epoch.
    public var expiresAt: Int64

    public init(sealedToken: [UInt8], expiresAt: Int64) {
        self.sealedToken = sealedToken
        self.expiresAt = expiresAt
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
        appid: String,
        openid: String,
        unionid: String?,
        sealedSessionKey: [UInt8]?,
        newUserId: String,
        familyId: String,
        refreshTokenHash: [UInt8],
        refreshExpiresAt: Int64,
        now: Int64
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
    func rotateRefreshToken(
        presentedHash: [UInt8],
        newHash: [UInt8],
        newExpiresAt: Int64,
        now: Int64
    ) async throws
        -> RotationOutcome

    /// The family's session, or nil when there is no such family.
    func session(familyId: String) async throws -> SessionRecord?

    /// The family the refresh token belongs to, or nil when the token is unknown.
    func familyId(forRefreshTokenHash hash: [UInt8]) async throws -> String?

    /// Revokes a family (sign-out); its refresh tokens stop working and its access tokens are refused.
    func revokeFamily(id: String, now: Int64) async throws

    /// The encrypted session_key stored for an identity.
    func sealedSessionKey(appid: String, openid: String) async throws -> [UInt8]?

    /// Merges a profile into the user's (fields the update lacks are kept), gains a unionid the user lacked
    /// when no other user has it, and returns the updated user.
    func updateProfile(userId: String, profile: UserProfile, unionid: String?, now: Int64) async throws -> UserRecord

    // MARK: Web sign-in

    /// Records a web sign-in started by `GET /login`.
    func createWebState(_ state: WebStateRecord, now: Int64) async throws

    /// Binds the state to `codeHash` on first use, in one atomic step: of two callbacks racing with different
    /// codes exactly one claims it; a repeat with the same code gets the first one's outcome.
    func claimWebState(id: String, codeHash: [UInt8], now: Int64) async throws -> WebStateClaim

    /// Stores the outcome of a claimed state's callback (sealed by the caller, under a key derived from the
    /// code, which is never stored) so that repeats answer the same.
    func completeWebState(id: String, sealedOutcome: [UInt8]) async throws

    /// Unbinds a claimed state whose callback could not finish (the store or WeChat was unavailable),
    /// so a repeat may try again.
    func releaseWebState(id: String) async throws

    /// Replaces the WeChat web tokens (access and refresh, sealed by the caller) of an identity.
    func saveWebTokens(appid: String, openid: String, sealed: [UInt8]) async throws

    /// The sealed WeChat web tokens of an identity, if any.
    func sealedWebTokens(appid: String, openid: String) async throws -> [UInt8]?

    // MARK: App access token, shared by every instance

    /// The cached app token of `appid`, if any (possibly expired: the caller decides).
    func appToken(appid: String) async throws -> CachedAppToken?

    /// Replaces the cached app token of `appid`.
    func saveAppToken(appid: String, token: CachedAppToken) async throws

    /// Takes the refresh lease of `appid` until `until` if nobody holds a live one; true when `holder` got it.
    /// One instance at a time refreshes the token while the others keep using the current one.
    func acquireAppTokenLease(appid: String, holder: String, until: Int64, now: Int64) async throws -> Bool

    /// Gives the lease back early (it also lapses on its own at its `until`).
    func releaseAppTokenLease(appid: String, holder: String) async throws

    // MARK: Server-to-server administration (CONTRACT §4 `admin`, §9)

    /// A refresh token's record, spent or not, or nil when the hash is unknown.
    func refreshToken(hash: [UInt8]) async throws -> RefreshTokenRecord?

    /// The user an identity (appid, openid) belongs to, or nil when there is none.
    func userId(appid: String, openid: String) async throws -> String?

    /// Revokes every live refresh-token family of a user; returns how many were live.
    func revokeFamilies(userId: String, now: Int64) async throws -> Int

    /// Records a signed request's nonce until `expiresAt`; false when that key's nonce is already recorded and
    /// has not expired (a replay). Expired nonces are forgotten as it goes.
    func recordNonce(_ nonce: String, keyId: String, expiresAt: Int64, now: Int64) async throws -> Bool

    // MARK: Circuit breaker on WeChat, shared by every instance

    /// The circuit named `name`, or nil when none was ever recorded.
    func circuit(name: String) async throws -> CircuitState?

    /// Replaces the circuit with `change(current)` in one atomic step (nil deletes it) and returns what it
    /// stored; `change` may run more than once when a concurrent writer wins a race.
    func updateCircuit(
        name: String,
        _ change: @escaping @Sendable (CircuitState?) -> CircuitState?
    ) async throws -> CircuitState?

    // MARK: Housekeeping

    /// Deletes at most `limit` refresh tokens expired for longer than ``SweepReport/grace``, and the families they
    /// leave empty. Sign-ins sweep a small batch as they go; `local-runner sweep` runs batches until none is left.
    func sweepExpired(now: Int64, limit: Int) async throws -> SweepReport
}

/// A refresh token as introspection sees it; the token itself is never stored, only its hash.
public struct RefreshTokenRecord: Sendable, Equatable {
    public var familyId: String
    /// Seconds since the epoch.
    public var issuedAt: Int64
    public var expiresAt: Int64
    /// Whether it was presented already (rotated away).
    public var spent: Bool

    public init(familyId: String, issuedAt: Int64, expiresAt: Int64, spent: Bool) {
        self.familyId = familyId
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.spent = spent
    }
}

/// What one sweep deleted.
public struct SweepReport: Sendable, Equatable {
    /// Refresh tokens deleted.
    public var refreshTokens: Int
    /// Refresh-token families (sign-in sessions) deleted because no token of theirs was left.
    public var families: Int

    /// Seconds an expired token is kept, so that presenting it still answers "expired" rather than "unknown" for a day.
    public static let grace: Int64 = 86_400

    public init(refreshTokens: Int = 0, families: Int = 0) {
        self.refreshTokens = refreshTokens
        self.families = families
    }
}

/// A failure inside a store; the text names the operation, never data.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
