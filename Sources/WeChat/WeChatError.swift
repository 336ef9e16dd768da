/// A failed WeChat API call: WeChat's own `errcode`/`errmsg`, or a transport or protocol failure.
///
/// The text never contains a URL, a secret or a token: only the endpoint path and WeChat's errmsg.
public struct WeChatError: Error, Sendable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        case api(errcode: Int, errmsg: String)
        case transport(reason: String, mayHaveReachedWeChat: Bool, isTimeout: Bool)
        case httpStatus(Int)
        case invalidResponse(String)
        case deadlineExceeded
        /// The circuit breaker held the call back: WeChat failed repeatedly and may be called again after this.
        case circuitOpen(retryAfter: Duration)
    }

    let kind: Kind
    /// The endpoint path, e.g. `/sns/jscode2session`.
    public let endpoint: String

    init(_ kind: Kind, endpoint: String) {
        self.kind = kind
        self.endpoint = endpoint
    }

    /// WeChat's error code, when WeChat answered with one.
    public var errcode: Int? {
        if case .api(let code, _) = kind { return code }
        return nil
    }

    /// WeChat's error message, when WeChat answered with one.
    public var errmsg: String? {
        if case .api(_, let message) = kind { return message }
        return nil
    }

    /// Whether the request may have reached WeChat (and so consumed a single-use code).
    public var mayHaveReachedWeChat: Bool {
        switch kind {
        case .api, .httpStatus, .invalidResponse: true
        case .transport(_, let reached, _): reached
        case .deadlineExceeded, .circuitOpen: false
        }
    }

    /// What kind of failure this is, for retrying and for mapping to an OAuth error.
    public var category: Category {
        switch kind {
        case .api(let code, _): Category(errcode: code, endpoint: endpoint)
        case .transport, .httpStatus, .invalidResponse, .deadlineExceeded, .circuitOpen: .unavailable
        }
    }

    public var description: String {
        switch kind {
        case .api(let code, let message): "WeChat \(endpoint) answered errcode \(code): \(message)"
        case .transport(let reason, _, _): "WeChat \(endpoint) could not be reached: \(reason)"
        case .httpStatus(let status): "WeChat \(endpoint) answered HTTP \(status)"
        case .invalidResponse(let reason): "WeChat \(endpoint) answered something unexpected: \(reason)"
        case .deadlineExceeded: "WeChat \(endpoint) did not answer before the function's deadline"
        case .circuitOpen: "WeChat \(endpoint) was not called: it failed repeatedly and the circuit is open"
        }
    }

    /// When the circuit breaker held the call back: whole seconds until WeChat may be called again (at least 1).
    public var circuitOpenRetryAfter: Int? {
        guard case .circuitOpen(let wait) = kind else { return nil }
        let seconds = wait.components.seconds + (wait.components.attoseconds > 0 ? 1 : 0)
        return Int(clamping: max(1, min(seconds, 3600)))
    }

    /// The classes WeChat's error codes fall into (WECHAT.md A3). New classes may be added.
    public struct Category: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }

        /// -1: system busy; retried with backoff.
        public static let busy = Category(name: "busy")
        /// 45011, 45009: a minute or daily quota was hit; try again after the window.
        public static let rateLimited = Category(name: "rate_limited")
        /// 40029, 40163, 42003, 41008: the code is invalid, used or expired; the user needs a new one.
        public static let invalidCode = Category(name: "invalid_code")
        /// 40226: WeChat blocked this user's code (high-risk account).
        public static let blockedUser = Category(name: "blocked_user")
        /// 40013, 40125, 40164, 48001, 40002, 41002, 41004, 40066: the app's own setup is wrong.
        public static let configuration = Category(name: "configuration")
        /// 40001, 40014, 42001: the app access token is invalid or expired; fetch a fresh one once.
        public static let appTokenInvalid = Category(name: "app_token_invalid")
        /// 40001, 40014, 42001 from `/sns/userinfo` or `/sns/auth`: the user's web access token is invalid
        /// or expired; refresh it once with the refresh token.
        public static let userTokenInvalid = Category(name: "user_token_invalid")
        /// 48001 from `/sns/userinfo`: the token's scope (`snsapi_base`) does not cover the profile.
        public static let insufficientScope = Category(name: "insufficient_scope")
        /// 40030, 42002, 42007: a user's WeChat refresh token is invalid; the user must re-authorise.
        public static let refreshTokenInvalid = Category(name: "refresh_token_invalid")
        /// 40003 and friends: WeChat refused a parameter we passed on.
        public static let invalidParameter = Category(name: "invalid_parameter")
        /// Transport failures, timeouts, HTTP errors and answers that are not WeChat's shape.
        public static let unavailable = Category(name: "unavailable")
        /// Any errcode not listed.
        public static let unknown = Category(name: "unknown")

        init(name: String) { self.name = name }

        /// The class of a WeChat errcode from `endpoint`: the user-token endpoints give 40001, 40014,
        /// 42001 and 48001 a meaning about the user's token rather than the app's.
        init(errcode: Int, endpoint: String) {
            let userTokenEndpoint = endpoint == "/sns/userinfo" || endpoint == "/sns/auth"
            switch errcode {
            case 40001, 40014, 42001: self = userTokenEndpoint ? .userTokenInvalid : .appTokenInvalid
            case 48001 where endpoint == "/sns/userinfo": self = .insufficientScope
            default: self.init(errcode: errcode)
            }
        }

        /// The class of a WeChat errcode.
        public init(errcode: Int) {
            switch errcode {
            case -1: self = .busy
            case 45011, 45009: self = .rateLimited
            case 40029, 40163, 42003, 41008: self = .invalidCode
            case 40226: self = .blockedUser
            case 40013, 40125, 40164, 48001, 40002, 41002, 41004, 40066: self = .configuration
            case 40001, 40014, 42001: self = .appTokenInvalid
            case 40030, 42002, 42007: self = .refreshTokenInvalid
            case 40003: self = .invalidParameter
            default: self = .unknown
            }
        }
    }
}
