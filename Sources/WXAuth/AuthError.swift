import FunctionRuntime
import Logging
import WeChat

/// A refusal the caller sees: CONTRACT §3's error code, HTTP status and a description safe to show.
///
/// Made only through the named refusals below (like ``WeChatError``), so a status and a code never disagree:
/// the kind is hidden and both are derived from it.
public struct AuthError: Error, Sendable, CustomStringConvertible {
    /// Which refusal of CONTRACT §3 this is.
    enum Kind: Sendable, Equatable, CaseIterable {
        case invalidRequest, notFound, invalidGrant, invalidState, invalidToken, invalidClient, accessDenied
        case methodNotAllowed, unavailable, serverError, notImplemented

        var status: Int {
            switch self {
            case .invalidRequest, .invalidGrant, .invalidState: 400
            case .invalidToken, .invalidClient: 401
            case .accessDenied: 403
            case .notFound: 404
            case .methodNotAllowed: 405
            case .serverError: 500
            case .notImplemented: 501
            case .unavailable: 503
            }
        }

        var code: String {
            switch self {
            case .invalidRequest, .notFound: "invalid_request"
            case .invalidGrant: "invalid_grant"
            case .invalidState: "invalid_state"
            case .invalidToken: "invalid_token"
            case .invalidClient: "invalid_client"
            case .accessDenied: "access_denied"
            case .methodNotAllowed: "method_not_allowed"
            case .unavailable: "temporarily_unavailable"
            case .serverError, .notImplemented: "server_error"
            }
        }
    }

    let kind: Kind
    public let description: String
    /// WeChat's errcode when WeChat refused.
    public let wechatErrcode: Int?
    /// Headers the refusal needs: `WWW-Authenticate`, `Retry-After`, `Allow`.
    public let headers: [String: String]

    private init(_ kind: Kind, _ description: String, wechatErrcode: Int? = nil, headers: [String: String] = [:]) {
        self.kind = kind
        self.description = description
        self.wechatErrcode = wechatErrcode
        self.headers = headers
    }

    /// The HTTP status.
    public var status: Int { kind.status }

    /// The `error` code of the JSON body.
    public var code: String { kind.code }

    /// The same refusal again, from its status and code as a sealed callback outcome keeps them; nil for a pair
    /// no refusal has.
    init?(status: Int, code: String, description: String, wechatErrcode: Int?, headers: [String: String] = [:]) {
        guard let kind = Kind.allCases.first(where: { $0.status == status && $0.code == code }) else { return nil }
        self.init(kind, description, wechatErrcode: wechatErrcode, headers: headers)
    }

    public static func invalidRequest(_ text: String, wechatErrcode: Int? = nil) -> AuthError {
        AuthError(.invalidRequest, text, wechatErrcode: wechatErrcode)
    }

    /// A path the function does not serve (the admin calls).
    public static func notFound(_ text: String) -> AuthError {
        AuthError(.notFound, text)
    }

    public static func invalidGrant(_ text: String, wechatErrcode: Int? = nil) -> AuthError {
        AuthError(.invalidGrant, text, wechatErrcode: wechatErrcode)
    }

    /// A web callback's `state` that is missing, forged, expired or replayed.
    public static func invalidState(_ text: String) -> AuthError {
        AuthError(.invalidState, text)
    }

    public static func invalidToken(_ text: String) -> AuthError {
        AuthError(.invalidToken, text, headers: ["www-authenticate": #"Bearer realm="wxauth", error="invalid_token""#])
    }

    /// A server-to-server call without a valid signature (CONTRACT §9).
    public static func invalidClient(_ text: String) -> AuthError {
        AuthError(.invalidClient, text, headers: ["www-authenticate": #"WXAuth-HMAC-SHA256 realm="wxauth""#])
    }

    public static func accessDenied(_ text: String, wechatErrcode: Int? = nil) -> AuthError {
        AuthError(.accessDenied, text, wechatErrcode: wechatErrcode)
    }

    public static func methodNotAllowed(_ method: String, allowed: [String]) -> AuthError {
        AuthError(
            .methodNotAllowed,
            "\(method) is not allowed here",
            headers: ["allow": allowed.joined(separator: ", ")]
        )
    }

    public static func unavailable(_ text: String, retryAfter: Int, wechatErrcode: Int? = nil) -> AuthError {
        AuthError(.unavailable, text, wechatErrcode: wechatErrcode, headers: ["retry-after": String(retryAfter)])
    }

    /// A missing or invalid setting; `text` names the setting, never its value.
    public static func misconfigured(_ text: String, wechatErrcode: Int? = nil) -> AuthError {
        AuthError(.serverError, text, wechatErrcode: wechatErrcode)
    }

    /// Something went wrong on this side that no setting explains (an unexpected WeChat answer, a bug).
    public static func serverError(_ text: String, wechatErrcode: Int? = nil) -> AuthError {
        AuthError(.serverError, text, wechatErrcode: wechatErrcode)
    }

    public static func notImplemented(_ text: String) -> AuthError {
        AuthError(.notImplemented, text)
    }

    /// The response that carries this error.
    public var response: FunctionResponse {
        var headers = self.headers
        headers["cache-control"] = "no-store"
        return .error(
            status,
            code: code,
            description: description,
            extra: wechatErrcode.map { ["wechat_errcode": $0] } ?? [:],
            headers: headers
        )
    }
}

extension AuthError {
    /// How a WeChat failure during a sign-in reaches the caller (CONTRACT §3).
    public init(_ error: WeChatError) {
        if let retryAfter = error.circuitOpenRetryAfter {
            self = .unavailable(
                "WeChat has been failing, so sign-ins are paused; try again later",
                retryAfter: retryAfter
            )
            return
        }
        let errcode = error.errcode
        switch error.category {
        case .invalidCode:
            self = .invalidGrant("the WeChat code is invalid, expired or already used", wechatErrcode: errcode)
        case .blockedUser:
            self = .accessDenied("WeChat blocked this sign-in (high-risk account)", wechatErrcode: errcode)
        case .configuration, .appTokenInvalid:
            self = .misconfigured(
                "WeChat rejected the app's configuration (check the app id, secret and IP allow-list)",
                wechatErrcode: errcode
            )
        case .busy:
            self = .unavailable("WeChat is busy; try again", retryAfter: 1, wechatErrcode: errcode)
        case .rateLimited:
            self = .unavailable(
                "WeChat's rate limit was hit; try again in a minute",
                retryAfter: 60,
                wechatErrcode: errcode
            )
        case .refreshTokenInvalid, .userTokenInvalid:
            self = .invalidGrant("the WeChat authorisation has expired; sign in again", wechatErrcode: errcode)
        case .insufficientScope:
            self = .accessDenied("the WeChat authorisation does not include the profile", wechatErrcode: errcode)
        case .invalidParameter:
            self = .invalidRequest("WeChat refused a parameter (errcode \(errcode ?? 0))", wechatErrcode: errcode)
        case .unavailable:
            self = .unavailable("WeChat did not answer in time; try again with a new code", retryAfter: 2)
        default:
            self = .serverError("WeChat answered an unexpected error", wechatErrcode: errcode)
        }
    }
}

extension Logger {
    /// One log line for a WeChat refusal: its errcode and category, never the request (which holds secrets).
    func wechatRefused(_ message: Logger.Message, _ error: WeChatError) {
        notice(
            message,
            metadata: ["errcode": "\(error.errcode.map(String.init) ?? "-")", "category": "\(error.category)"]
        )
    }
}
