import Foundation

/// The JSON shapes of the external contract (CONTRACT.md), written on the test side for ``decodeJSON(_:from:)``:
/// a test that decodes into the product's own types could not notice a renamed field. Required fields are not
/// optional here and keep their JSON type (`statusCode` is an `Int`), so a missing or mistyped one fails the
/// decode; optional fields are the ones the contract lets a response leave out.

/// The proxy response a function writes on stdout, or posts to a runtime API: API Gateway v2.0's, which SCF's
/// integrated response shares (with `multiValueHeaders` for several cookies).
package struct ProxyResponse: Decodable, JSONBodied {
    package var statusCode: Int
    package var headers: [String: String]?
    package var multiValueHeaders: [String: [String]]?
    package var cookies: [String]?
    package var body: String?
    package var isBase64Encoded: Bool?

    package var bodyText: String? { body }
}

/// `POST /login`, `POST /refresh` and the callback's JSON answer: the token body of CONTRACT §4.
package struct TokenAnswer: Decodable {
    package struct User: Decodable {
        package var id: String
        package var openid: String
        package var unionid: String?
    }

    package var access_token: String
    package var token_type: String
    package var expires_in: Int
    package var refresh_token: String
    package var refresh_expires_in: Int
    package var user: User
}

/// Every refusal: an OAuth error code, a description, and WeChat's errcode when WeChat refused.
package struct Refusal: Decodable {
    package var error: String
    package var error_description: String?
    package var wechat_errcode: Int?
}

/// `GET /userinfo`: OpenID-Connect-style claims, `updated_at` in seconds since the epoch.
package struct Profile: Decodable {
    package var sub: String
    package var openid: String
    package var unionid: String?
    package var nickname: String?
    package var picture: String?
    package var phone_number: String?
    package var phone_number_verified: Bool?
    package var updated_at: Int
}

/// `POST /userinfo`: WeChat's encrypted user data, decrypted and watermark-checked.
package struct DecryptedData: Decodable {
    package struct Watermark: Decodable {
        package var appid: String
    }

    package var watermark: Watermark
}

/// `POST /admin/introspect` (RFC 7662): everything but `active` only when the token is active.
package struct Introspection: Decodable {
    package var active: Bool
    package var sub: String?
    package var client_id: String?
    package var sid: String?
    package var exp: Int?
    package var iat: Int?
    package var token_type: String?
}

/// `POST /admin/revoke`.
package struct Revocation: Decodable {
    package var revoked_sessions: Int
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
package struct ServerMetadata: Decodable {
    package var issuer: String
    package var jwks_uri: String
    package var authorization_endpoint: String
    package var token_endpoint: String
    package var userinfo_endpoint: String
    package var revocation_endpoint: String
    package var introspection_endpoint: String
    package var response_types_supported: [String]
    package var token_endpoint_auth_methods_supported: [String]
}

/// A JWK Set (RFC 7517), public or private (§5, `local-runner keys`): every member of these keys is a string.
/// Made by the tests too, to hand the functions a key set of their own.
package struct KeySet: Codable, Sendable {
    package var keys: [[String: String]]

    package init(keys: [[String: String]]) {
        self.keys = keys
    }
}

/// An access token's header (CONTRACT §5).
package struct TokenHeader: Decodable {
    package var alg: String
    package var typ: String
    package var kid: String
}

/// An access token's claims (CONTRACT §5).
package struct TokenClaims: Decodable {
    package var iss: String
    package var aud: String
    package var sub: String
    package var iat: Int
    package var exp: Int
    package var jti: String
    package var sid: String
    package var client_id: String
}

extension TokenHeader {
    /// The header of a compact JWT, read without verifying it.
    package init(of token: String) throws {
        self = try decodeJSON(from: jwtSegment(token, 0))
    }
}

extension TokenClaims {
    /// The claims of a compact JWT, read without verifying them.
    package init(of token: String) throws {
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
package protocol JSONBodied {
    /// The body as text, nil when there is none.
    var bodyText: String? { get }
}

extension JSONBodied {
    /// The body decoded as `type`; throws, showing the body, when it is not one.
    package func decoded<Value: Decodable>(_ type: Value.Type = Value.self) throws -> Value {
        try decodeJSON(type, from: bodyText ?? "")
    }

    package var tokens: TokenAnswer { get throws { try decoded() } }
    package var refusal: Refusal { get throws { try decoded() } }
    package var profile: Profile { get throws { try decoded() } }
    /// The body's top-level members, for checks of what is there and what is not.
    package var members: [String: JSONValue] { get throws { try decoded() } }
}

/// Any JSON value: for checks of which members a document has, and for documents whose members are not fixed (a
/// JWK, an Embedded Metric Format line's metrics).
package enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: any Decoder) throws {
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

    package func encode(to encoder: any Encoder) throws {
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

    package var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    package var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }
}

/// The names of a JSON object's members, whatever their values: for the tests that check a document has exactly
/// the documented fields, no more.
package struct JSONObjectKeys: Decodable, Sendable {
    package var keys: Set<String>

    private struct Name: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    package init(keys: Set<String>) {
        self.keys = keys
    }

    package init(from decoder: any Decoder) throws {
        self.keys = Set(try decoder.container(keyedBy: Name.self).allKeys.map(\.stringValue))
    }
}

/// An API Gateway HTTP API payload v2.0 event (§2, WECHAT.md C3), as the runner and `wxauth-http` build them.
package struct PayloadV2Event: Decodable, Sendable {
    package struct RequestContext: Decodable, Sendable {
        package struct HTTP: Decodable, Sendable {
            package var method: String
            package var path: String?
            package var sourceIp: String?
            package var userAgent: String?
        }

        package var http: HTTP
        package var requestId: String
    }

    package var version: String
    package var rawPath: String
    package var rawQueryString: String?
    package var cookies: [String]?
    package var headers: [String: String]?
    package var queryStringParameters: [String: String]?
    package var requestContext: RequestContext
    package var body: String?
    package var isBase64Encoded: Bool
}

extension String {
    /// Standard base64 of this base64url text, padded: what `Data(base64Encoded:)` reads.
    package var base64Padded: String {
        var text = replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return text
    }
}
