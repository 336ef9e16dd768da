import Foundation
import TestSupport

// What the functions answer, typed from the contract's text (CONTRACT §3–§5) rather than with the product's own
// types: a member the product renamed or retyped fails a test here instead of travelling along unnoticed. Members
// are named as on the wire.

/// The proxy response a function writes on stdout, or posts to a runtime API: API Gateway v2.0's, which SCF's
/// integrated response shares (with `multiValueHeaders` for several cookies).
struct ProxyResponse: Decodable, JSONBodied {
    var statusCode: Int
    var headers: [String: String]?
    var multiValueHeaders: [String: [String]]?
    var cookies: [String]?
    var body: String?
    var isBase64Encoded: Bool?

    var bodyText: String? { body }
}

/// `POST /login`, `POST /refresh` and the callback's JSON answer: the token body of CONTRACT §4.
struct TokenAnswer: Decodable {
    struct User: Decodable {
        var id: String
        var openid: String
        var unionid: String?
    }

    var access_token: String
    var token_type: String
    var expires_in: Int
    var refresh_token: String
    var refresh_expires_in: Int
    var user: User
}

/// Every refusal: an OAuth error code, a description, and WeChat's errcode when WeChat refused.
struct Refusal: Decodable {
    var error: String
    var error_description: String?
    var wechat_errcode: Int?
}

/// `GET /userinfo`: OpenID-Connect-style claims, `updated_at` in seconds since the epoch.
struct Profile: Decodable {
    var sub: String
    var openid: String
    var unionid: String?
    var nickname: String?
    var picture: String?
    var phone_number: String?
    var phone_number_verified: Bool?
    var updated_at: Int
}

/// `POST /userinfo`: WeChat's encrypted user data, decrypted and watermark-checked.
struct DecryptedData: Decodable {
    struct Watermark: Decodable {
        var appid: String
    }

    var watermark: Watermark
}

/// `POST /admin/introspect` (RFC 7662): everything but `active` only when the token is active.
struct Introspection: Decodable {
    var active: Bool
    var sub: String?
    var client_id: String?
    var sid: String?
    var exp: Int?
    var iat: Int?
    var token_type: String?
}

/// `POST /admin/revoke`.
struct Revocation: Decodable {
    var revoked_sessions: Int
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
struct ServerMetadata: Decodable {
    var issuer: String
    var jwks_uri: String
    var authorization_endpoint: String
    var token_endpoint: String
    var userinfo_endpoint: String
    var revocation_endpoint: String
    var introspection_endpoint: String
    var response_types_supported: [String]
    var token_endpoint_auth_methods_supported: [String]
}

/// A JWK Set (RFC 7517), each key with whatever members its type has.
struct KeySet: Codable {
    var keys: [[String: JSONValue]]
}

/// An access token's header (CONTRACT §5).
struct TokenHeader: Decodable {
    var alg: String
    var typ: String
    var kid: String
}

/// An access token's claims (CONTRACT §5).
struct TokenClaims: Decodable {
    var iss: String
    var aud: String
    var sub: String
    var iat: Int
    var exp: Int
    var jti: String
    var sid: String
    var client_id: String
}

extension TokenHeader {
    /// The header of a compact JWT, read without verifying it.
    init(of token: String) throws {
        self = try decodeJSON(from: jwtSegment(token, 0))
    }
}

extension TokenClaims {
    /// The claims of a compact JWT, read without verifying them.
    init(of token: String) throws {
        self = try decodeJSON(from: jwtSegment(token, 1))
    }
}

/// The bytes of one base64url segment of a compact JWT (empty when there is no such segment).
private func jwtSegment(_ token: String, _ index: Int) -> [UInt8] {
    let segments = token.split(separator: ".", omittingEmptySubsequences: false)
    guard index < segments.count else { return [] }
    return Array(Data(base64Encoded: String(segments[index]).base64Padded) ?? Data())
}

/// Anything with a JSON body: a function's answer, an HTTP reply.
protocol JSONBodied {
    /// The body as text, nil when there is none.
    var bodyText: String? { get }
}

extension JSONBodied {
    /// The body decoded as `type`; throws, showing the body, when it is not one.
    func decoded<Value: Decodable>(_ type: Value.Type = Value.self) throws -> Value {
        try decodeJSON(type, from: bodyText ?? "")
    }

    var tokens: TokenAnswer { get throws { try decoded() } }
    var refusal: Refusal { get throws { try decoded() } }
    var profile: Profile { get throws { try decoded() } }
    /// The body's top-level members, for checks of what is there and what is not.
    var members: [String: JSONValue] { get throws { try decoded() } }
}

/// Any JSON value: for checks of which members a document has, and for documents whose members are not fixed (a
/// JWK, an Embedded Metric Format line's metrics).
enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }
}
