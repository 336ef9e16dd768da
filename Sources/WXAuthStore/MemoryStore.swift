/// An in-memory store with the same semantics as ``SQLiteStore``: for unit tests and throw-away runs.
public actor MemoryStore: Store {
    private struct Identity {
        var userId: String
        var sessionKey: [UInt8]?
        var webTokens: [UInt8]?
    }

    private struct WebState {
        var record: WebStateRecord
        var codeHash: [UInt8]?
        var outcome: [UInt8]?
    }

    private struct Family {
        var userId: String
        var appid: String
        var openid: String
        var revoked: Bool
    }

    private struct Token {
        var familyId: String
        var issuedAt: Int64
        var expiresAt: Int64
        var spent: Bool
    }

    private struct IdentityKey: Hashable {
        var appid: String
        var openid: String
    }

    private var users: [String: UserRecord] = [:]
    private var identities: [IdentityKey: Identity] = [:]
    private var families: [String: Family] = [:]
    private var tokens: [[UInt8]: Token] = [:]
    private var appTokens: [String: CachedAppToken] = [:]
    private var leases: [String: (holder: String, until: Int64)] = [:]
    private var webStates: [String: WebState] = [:]
    private var circuits: [String: CircuitState] = [:]
    private var nonces: [String: Int64] = [:]

    public init() {}

    public func signIn(_ record: SignInRecord) async throws -> UserRecord {
        let key = IdentityKey(appid: record.appid, openid: record.openid)
        let userId: String
        if var identity = identities[key] {
            userId = identity.userId
            identity.sessionKey = record.sealedSessionKey
            identities[key] = identity
            if let unionid = record.unionid, users[userId]?.unionid == nil,
                !users.values.contains(where: { $0.unionid == unionid })
            {
                users[userId]?.unionid = unionid
            }
        } else if let unionid = record.unionid, let linked = users.values.first(where: { $0.unionid == unionid }) {
            userId = linked.id
            identities[key] = Identity(userId: userId, sessionKey: record.sealedSessionKey)
        } else {
            userId = record.newUserId
            users[userId] = UserRecord(
                id: userId,
                unionid: record.unionid,
                createdAt: record.now,
                updatedAt: record.now
            )
            identities[key] = Identity(userId: userId, sessionKey: record.sealedSessionKey)
        }
        users[userId]?.updatedAt = record.now
        families[record.familyId] = Family(userId: userId, appid: record.appid, openid: record.openid, revoked: false)
        tokens[record.refreshTokenHash] = Token(
            familyId: record.familyId,
            issuedAt: record.now,
            expiresAt: record.refreshExpiresAt,
            spent: false
        )
        _ = try await sweepExpired(now: record.now, limit: 20)
        guard let user = users[userId] else { throw StoreError("sign-in lost its user") }
        return user
    }

    public func rotateRefreshToken(
        presentedHash: [UInt8],
        newHash: [UInt8],
        newExpiresAt: Int64,
        now: Int64
    ) async throws
        -> RotationOutcome
    {
        guard var token = tokens[presentedHash], let family = families[token.familyId] else { return .unknown }
        if family.revoked { return .revoked }
        if token.spent {
            families[token.familyId]?.revoked = true
            return .reused
        }
        if token.expiresAt <= now { return .expired }
        token.spent = true
        tokens[presentedHash] = token
        tokens[newHash] = Token(familyId: token.familyId, issuedAt: now, expiresAt: newExpiresAt, spent: false)
        guard let session = sessionRecord(familyId: token.familyId) else { return .unknown }
        return .rotated(session)
    }

    public func session(familyId: String) async throws -> SessionRecord? {
        sessionRecord(familyId: familyId)
    }

    public func familyId(forRefreshTokenHash hash: [UInt8]) async throws -> String? {
        tokens[hash]?.familyId
    }

    public func revokeFamily(id: String, now: Int64) async throws {
        families[id]?.revoked = true
    }

    public func sealedSessionKey(appid: String, openid: String) async throws -> [UInt8]? {
        identities[IdentityKey(appid: appid, openid: openid)]?.sessionKey
    }

    public func updateProfile(
        userId: String,
        profile: UserProfile,
        unionid: String?,
        now: Int64
    ) async throws -> UserRecord {
        guard var user = users[userId] else { throw StoreError("no such user") }
        user.profile = user.profile.merging(profile)
        user.updatedAt = now
        if let unionid, user.unionid == nil, !users.values.contains(where: { $0.unionid == unionid }) {
            user.unionid = unionid
        }
        users[userId] = user
        return user
    }

    public func appToken(appid: String) async throws -> CachedAppToken? {
        appTokens[appid]
    }

    public func saveAppToken(appid: String, token: CachedAppToken) async throws {
        appTokens[appid] = token
    }

    public func acquireAppTokenLease(appid: String, holder: String, until: Int64, now: Int64) async throws -> Bool {
        if let lease = leases[appid], lease.until > now, lease.holder != holder { return false }
        leases[appid] = (holder, until)
        return true
    }

    public func releaseAppTokenLease(appid: String, holder: String) async throws {
        if leases[appid]?.holder == holder { leases[appid] = nil }
    }

    public func refreshToken(hash: [UInt8]) async throws -> RefreshTokenRecord? {
        tokens[hash].map {
            RefreshTokenRecord(familyId: $0.familyId, issuedAt: $0.issuedAt, expiresAt: $0.expiresAt, spent: $0.spent)
        }
    }

    public func userId(appid: String, openid: String) async throws -> String? {
        identities[IdentityKey(appid: appid, openid: openid)]?.userId
    }

    public func revokeFamilies(userId: String, now: Int64) async throws -> Int {
        let live = families.filter { $0.value.userId == userId && !$0.value.revoked }.map(\.key)
        for id in live { families[id]?.revoked = true }
        return live.count
    }

    public func recordNonce(_ nonce: String, keyId: String, expiresAt: Int64, now: Int64) async throws -> Bool {
        nonces = nonces.filter { $0.value > now }
        let key = keyId + "\u{0}" + nonce
        guard nonces[key] == nil else { return false }
        nonces[key] = expiresAt
        return true
    }

    public func circuit(name: String) async throws -> CircuitState? {
        circuits[name]
    }

    public func updateCircuit(
        name: String,
        _ change: @escaping @Sendable (CircuitState?) -> CircuitState?
    ) async throws -> CircuitState? {
        circuits[name] = change(circuits[name])
        return circuits[name]
    }

    public func sweepExpired(now: Int64, limit: Int) async throws -> SweepReport {
        let gone = Array(tokens.filter { $0.value.expiresAt < now - SweepReport.grace }.prefix(limit))
        for (hash, _) in gone { tokens[hash] = nil }
        let emptied = Set(gone.map(\.value.familyId)).filter { family in
            !tokens.values.contains { $0.familyId == family }
        }
        for family in emptied { families[family] = nil }
        return SweepReport(refreshTokens: gone.count, families: emptied.count)
    }

    private func sessionRecord(familyId: String) -> SessionRecord? {
        guard let family = families[familyId], let user = users[family.userId] else { return nil }
        return SessionRecord(
            familyId: familyId,
            user: user,
            appid: family.appid,
            openid: family.openid,
            revoked: family.revoked
        )
    }

    // MARK: - Web sign-in

    public func createWebState(_ state: WebStateRecord, now: Int64) async throws {
        webStates = webStates.filter { $0.value.record.expiresAt >= now - 3_600 }
        webStates[state.id] = WebState(record: state)
    }

    public func claimWebState(id: String, codeHash: [UInt8], now: Int64) async throws -> WebStateClaim {
        guard var state = webStates[id] else { return .unknown }
        guard let bound = state.codeHash else {
            guard state.record.expiresAt >= now else { return .unknown }
            state.codeHash = codeHash
            webStates[id] = state
            return .claimed(state.record)
        }
        return bound == codeHash ? .repeated(state.record, sealedOutcome: state.outcome) : .replayed
    }

    public func completeWebState(id: String, sealedOutcome: [UInt8]) async throws {
        webStates[id]?.outcome = sealedOutcome
    }

    public func releaseWebState(id: String) async throws {
        if webStates[id]?.outcome == nil { webStates[id]?.codeHash = nil }
    }

    public func saveWebTokens(appid: String, openid: String, sealed: [UInt8]) async throws {
        identities[IdentityKey(appid: appid, openid: openid)]?.webTokens = sealed
    }

    public func sealedWebTokens(appid: String, openid: String) async throws -> [UInt8]? {
        identities[IdentityKey(appid: appid, openid: openid)]?.webTokens
    }
}
