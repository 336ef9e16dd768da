import Foundation

/// A sign-in code: a mini-program's (`POST /sandbox/codes`, as `wx.login` hands it out) or a web
/// authorisation's (`POST /sandbox/web-codes` or the authorize pages, as the callback receives it).
struct IssuedCode: Sendable {
    var code: String
    var appid: String
    var user: String
    var openid: String
    /// Nil when the code was minted for a user whose app is not bound to the open platform, or for an
    /// official account's `snsapi_base`.
    var unionid: String?
    var issuedAt: Date
    /// Seconds the code may wait before its exchange.
    var lifetime: TimeInterval
    /// The granted web scope; nil for a mini-program code, which the web exchange refuses (and vice versa).
    var scope: String? = nil
    /// A snapshot-page virtual account (`is_snapshotuser`).
    var snapshot = false
    var used = false
}

/// What became of an attempt to redeem a code.
enum CodeRedemption: Sendable {
    case redeemed(IssuedCode)
    /// Never issued, or issued for another app.
    case invalid
    case alreadyUsed
    case expired
}

/// Everything the sandbox remembers. One actor, so each WeChat call sees a consistent world.
actor SandboxState {
    /// WeChat mini-program codes live 5 minutes.
    static let codeLifetime: TimeInterval = 300
    /// Codes older than this are forgotten (they can only answer 40029 by then anyway).
    static let codeRetention: TimeInterval = 3600

    let clock: any SandboxClock
    private var apps: [String: SandboxApp] = [:]
    private var codes: [String: IssuedCode] = [:]
    private var sessionKeys: [SessionKeyID: String] = [:]
    private var faults = FaultQueue()
    private var calls: [String: Int] = [:]
    // App tokens, phone codes and users: see SandboxState+AppToken.swift.
    var stableTokens: [String: StableTokenLedger] = [:]
    var phoneCodes: [String: IssuedPhoneCode] = [:]
    /// Who each openid belongs to, so generated profiles can be the test user's.
    var knownUsers: [String: KnownUser] = [:]
    /// Test users by name, in the order they first appeared.
    private(set) var testUsers: [String] = []
    // Users' web tokens: see SandboxState+WebOAuth.swift.
    var webTokens: [String: IssuedWebToken] = [:]
    var webRefreshTokens: [String: IssuedWebRefreshToken] = [:]

    private struct SessionKeyID: Hashable {
        var appid: String
        var openid: String
    }

    init(clock: any SandboxClock, apps: [SandboxApp]) {
        self.clock = clock
        for app in apps {
            self.apps[app.appid] = app
        }
    }

    // MARK: Apps

    func register(_ app: SandboxApp) {
        self.apps[app.appid] = app
    }

    func app(_ appid: String) -> SandboxApp? {
        self.apps[appid]
    }

    // MARK: Codes

    /// Mints a mini-program code for `user` of `appid`, or nil when the app is unknown or not a mini-program.
    func mintCode(appid: String, user: String, withUnionid: Bool) -> IssuedCode? {
        guard self.apps[appid]?.kind == .miniProgram else { return nil }
        return self.storeCode(
            appid: appid,
            user: user,
            openid: TestUsers.openid(appid: appid, user: user),
            unionid: withUnionid ? TestUsers.unionid(user: user) : nil,
            lifetime: Self.codeLifetime
        )
    }

    /// Records a fresh code and its user, forgetting codes past their retention.
    func storeCode(
        appid: String,
        user: String,
        openid: String,
        unionid: String?,
        lifetime: TimeInterval,
        scope: String? = nil,
        snapshot: Bool = false
    ) -> IssuedCode {
        let now = self.clock.now()
        self.codes = self.codes.filter { now.timeIntervalSince($0.value.issuedAt) <= Self.codeRetention }
        var code = TestUsers.randomCode()
        while self.codes[code] != nil {
            code = TestUsers.randomCode()
        }
        let issued = IssuedCode(
            code: code,
            appid: appid,
            user: user,
            openid: openid,
            unionid: unionid,
            issuedAt: now,
            lifetime: lifetime,
            scope: scope,
            snapshot: snapshot
        )
        self.codes[code] = issued
        self.knownUsers[issued.openid] = KnownUser(user: user, unionid: issued.unionid)
        self.addTestUser(user)
        return issued
    }

    /// Spends `code` for `appid`. Any attempt spends it, as WeChat appears to do (WECHAT.md A3),
    /// including one by the wrong app.
    func redeem(code: String, appid: String) -> CodeRedemption {
        guard var issued = self.codes[code] else { return .invalid }
        if issued.used { return .alreadyUsed }
        issued.used = true
        self.codes[code] = issued
        if issued.appid != appid { return .invalid }
        if self.clock.now().timeIntervalSince(issued.issuedAt) > issued.lifetime { return .expired }
        return .redeemed(issued)
    }

    // MARK: Test users

    /// Adds `user` to the test users, if new.
    func addTestUser(_ user: String) {
        if !self.testUsers.contains(user) {
            self.testUsers.append(user)
        }
    }

    // MARK: Session keys

    /// Records the newest session_key of a user: WeChat keeps one valid key per user (A2).
    func setSessionKey(_ key: String, appid: String, openid: String) {
        self.sessionKeys[SessionKeyID(appid: appid, openid: openid)] = key
    }

    func sessionKey(appid: String, openid: String) -> String? {
        self.sessionKeys[SessionKeyID(appid: appid, openid: openid)]
    }

    // MARK: Faults and call counts

    func addFault(_ fault: SandboxFault) {
        self.faults.add(fault)
    }

    func clearFaults() {
        self.faults.removeAll()
    }

    /// Counts a call of `endpoint` and takes the fault, if any, that applies to it.
    func beginCall(_ endpoint: String) -> SandboxFault? {
        self.calls[endpoint, default: 0] += 1
        return self.faults.next(for: endpoint)
    }

    func callCounts() -> [String: Int] {
        self.calls
    }

    func resetCallCounts() {
        self.calls.removeAll()
    }
}
