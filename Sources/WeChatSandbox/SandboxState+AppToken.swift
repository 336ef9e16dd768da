import Encodings
import Foundation

/// An app access token handed out by `/cgi-bin/stable_token`.
struct IssuedAppToken: Sendable {
    var token: String
    /// When WeChat stops accepting it.
    var expiresAt: Date
}

/// One app's stable-token history: the current token, the one it replaced, and force-refresh quota.
struct StableTokenLedger: Sendable {
    var current: IssuedAppToken?
    /// The replaced token, accepted until its `expiresAt` (cut to five minutes by a forced refresh).
    var previous: IssuedAppToken?
    /// The sandbox day (Beijing time) `forcedToday` counts for.
    var forceDay = 0
    var forcedToday = 0
    var lastForcedAt: Date?
}

/// What `/cgi-bin/stable_token` decided.
enum StableTokenOutcome: Sendable {
    case issued(token: String, expiresIn: Int)
    /// force_refresh used 20 times this day.
    case dailyQuotaReached
    /// force_refresh within 30 s of the last one.
    case tooFrequent
}

/// How an app token presented to an app-level API stands.
enum AppTokenCheck: Sendable {
    case live(appid: String)
    /// The app's current token, past its 7200 s.
    case expired
    /// Unknown, or replaced and past its grace: WeChat's "not latest".
    case invalid
}

/// A phone code minted by `POST /sandbox/phone-codes`, as `getPhoneNumber` would hand it to a mini-program.
struct IssuedPhoneCode: Sendable {
    var code: String
    var appid: String
    var user: String
    var purePhoneNumber: String
    var countryCode: String
    var issuedAt: Date
    var used = false

    /// The number as WeChat shows it: bare for mainland China, with `+` and country code otherwise.
    var phoneNumber: String {
        self.countryCode == "86" ? self.purePhoneNumber : "+\(self.countryCode)\(self.purePhoneNumber)"
    }
}

enum PhoneCodeRedemption: Sendable {
    case redeemed(IssuedPhoneCode)
    /// The caller named an openid, and the code was minted for another user of the app.
    case wrongUser
    case invalid
    case alreadyUsed
    case expired
}

/// The test user behind an openid.
struct KnownUser: Sendable {
    var user: String
    var unionid: String?
}

extension SandboxState {
    /// WeChat app tokens live 7200 s.
    static let appTokenLifetime: TimeInterval = 7200
    /// Normal mode renews the token once it has less than this left, and a replaced token stays
    /// valid this long after a forced refresh.
    static let appTokenOverlap: TimeInterval = 300
    /// force_refresh quota (WECHAT.md A1): 20 a day, at least 30 s apart.
    static let forceRefreshesPerDay = 20
    static let forceRefreshSpacing: TimeInterval = 30
    /// Phone codes live 5 minutes (WECHAT.md A2).
    static let phoneCodeLifetime: TimeInterval = 300

    // MARK: Stable tokens

    /// Answers `/cgi-bin/stable_token` for a known, authenticated app.
    func stableToken(appid: String, forceRefresh: Bool) -> StableTokenOutcome {
        let now = self.clock.now()
        var ledger = self.stableTokens[appid] ?? StableTokenLedger()
        let current: IssuedAppToken
        if forceRefresh {
            // WeChat's daily quotas reset at midnight Beijing time (UTC+8).
            let day = Int(((now.timeIntervalSince1970 + 8 * 3600) / 86400).rounded(.down))
            if ledger.forceDay != day {
                ledger.forceDay = day
                ledger.forcedToday = 0
            }
            if ledger.forcedToday >= Self.forceRefreshesPerDay { return .dailyQuotaReached }
            if let last = ledger.lastForcedAt, now.timeIntervalSince(last) < Self.forceRefreshSpacing {
                return .tooFrequent
            }
            ledger.forcedToday += 1
            ledger.lastForcedAt = now
            current = Self.rotate(&ledger, now: now, previousUntil: now.addingTimeInterval(Self.appTokenOverlap))
        } else if let existing = ledger.current, existing.expiresAt.timeIntervalSince(now) >= Self.appTokenOverlap {
            // Normal mode: the same token while it has at least five minutes left.
            current = existing
        } else {
            current = Self.rotate(&ledger, now: now, previousUntil: ledger.current?.expiresAt ?? now)
        }
        self.stableTokens[appid] = ledger
        return .issued(token: current.token, expiresIn: Int(current.expiresAt.timeIntervalSince(now).rounded(.down)))
    }

    /// Replaces the current token, keeping the old one valid until `previousUntil` at the latest.
    private static func rotate(_ ledger: inout StableTokenLedger, now: Date, previousUntil: Date) -> IssuedAppToken {
        if var replaced = ledger.current {
            replaced.expiresAt = min(replaced.expiresAt, previousUntil)
            ledger.previous = replaced
        }
        let fresh = IssuedAppToken(
            token: SandboxTokens.appAccessToken(),
            expiresAt: now.addingTimeInterval(Self.appTokenLifetime)
        )
        ledger.current = fresh
        return fresh
    }

    /// Whose token `token` is, and whether WeChat would still accept it.
    func checkAppToken(_ token: String) -> AppTokenCheck {
        let now = self.clock.now()
        for (appid, ledger) in self.stableTokens {
            if let current = ledger.current, current.token == token {
                return now < current.expiresAt ? .live(appid: appid) : .expired
            }
            if let previous = ledger.previous, previous.token == token {
                return now < previous.expiresAt ? .live(appid: appid) : .invalid
            }
        }
        return .invalid
    }

    // MARK: Phone codes

    /// Mints a phone code for `user` of `appid`, or nil when the app is unknown.
    func mintPhoneCode(appid: String, user: String, purePhoneNumber: String, countryCode: String) -> IssuedPhoneCode? {
        guard self.app(appid) != nil else { return nil }
        let now = self.clock.now()
        self.phoneCodes = self.phoneCodes.filter { now.timeIntervalSince($0.value.issuedAt) <= Self.codeRetention }
        var code = SandboxTokens.phoneCode()
        while self.phoneCodes[code] != nil {
            code = SandboxTokens.phoneCode()
        }
        let issued = IssuedPhoneCode(
            code: code,
            appid: appid,
            user: user,
            purePhoneNumber: purePhoneNumber,
            countryCode: countryCode,
            issuedAt: now
        )
        self.phoneCodes[code] = issued
        return issued
    }

    /// Spends a phone code for `appid`; like login codes, any attempt spends it.
    /// `openid`, when given, must be the openid of the user the code was minted for (WeChat checks the binding
    /// and refuses otherwise); a refused binding does not spend the code, so its own user can still redeem it.
    func redeemPhoneCode(_ code: String, appid: String, openid: String? = nil) -> PhoneCodeRedemption {
        guard var issued = self.phoneCodes[code] else { return .invalid }
        if issued.used { return .alreadyUsed }
        if let openid, issued.appid == appid, openid != TestUsers.openid(appid: appid, user: issued.user) {
            return .wrongUser
        }
        issued.used = true
        self.phoneCodes[code] = issued
        if issued.appid != appid { return .invalid }
        if self.clock.now().timeIntervalSince(issued.issuedAt) > Self.phoneCodeLifetime { return .expired }
        return .redeemed(issued)
    }

    // MARK: Users

    func knownUser(openid: String) -> KnownUser? {
        self.knownUsers[openid]
    }
}

/// Random tokens in the shapes WeChat uses.
enum SandboxTokens {
    private static let tokenAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

    /// An app access token: a small number, `_`, then opaque characters (real ones are 130–160 long).
    static func appAccessToken() -> String {
        opaque(prefix: "90_")
    }

    /// `prefix` and 136 random characters of WeChat's token alphabet.
    static func opaque(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let body = (0..<136).map { _ in tokenAlphabet[Int.random(in: 0..<tokenAlphabet.count, using: &generator)] }
        return prefix + String(body)
    }

    /// A `getPhoneNumber` code: 64 lower-case hex digits.
    static func phoneCode() -> String {
        Hex.random(byteCount: 32)
    }
}
