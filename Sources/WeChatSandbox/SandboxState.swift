import Foundation

/// A code minted by `POST /sandbox/codes`, as `wx.login` would hand it to a mini-program.
struct IssuedCode: Sendable {
    var code: String
    var appid: String
    var user: String
    var openid: String
    /// Nil when the code was minted for a user whose app is not bound to the open platform.
    var unionid: String?
    var issuedAt: Date
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

    /// Mints a code for `user` of `appid`, or nil when the app is unknown.
    func mintCode(appid: String, user: String, withUnionid: Bool) -> IssuedCode? {
        guard self.apps[appid] != nil else { return nil }
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
            openid: TestUsers.openid(appid: appid, user: user),
            unionid: withUnionid ? TestUsers.unionid(user: user) : nil,
            issuedAt: now
        )
        self.codes[code] = issued
        self.knownUsers[issued.openid] = KnownUser(user: user, unionid: issued.unionid)
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
        if self.clock.now().timeIntervalSince(issued.issuedAt) > Self.codeLifetime { return .expired }
        return .redeemed(issued)
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
