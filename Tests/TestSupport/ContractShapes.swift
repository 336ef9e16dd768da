/// The JSON shapes of the external contract (CONTRACT.md), written on the test side for ``decodeJSON(_:from:)``:
/// a test that decodes into the product's own types could not notice a renamed field. Required fields are not
/// optional here and keep their JSON type (`statusCode` is an `Int`), so a missing or mistyped one fails the
/// decode; optional fields are the ones the contract lets a response leave out.

/// A function's response on stdout (§2).
package struct ResponseShape: Decodable, Sendable {
    package var statusCode: Int
    package var headers: [String: String]?
    package var cookies: [String]?
    package var body: String?
    package var isBase64Encoded: Bool?
}

/// The token body of `POST /login`, `POST /refresh` and a JSON callback (§4).
package struct TokenBody: Decodable, Sendable {
    package struct User: Decodable, Sendable {
        package var id: String
        package var openid: String
        package var unionid: String?
    }

    package var accessToken: String
    package var tokenType: String
    package var expiresIn: Int
    package var refreshToken: String
    package var refreshExpiresIn: Int
    package var user: User

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case refreshToken = "refresh_token"
        case refreshExpiresIn = "refresh_expires_in"
        case user
    }
}

/// An error body (§3).
package struct ErrorBody: Decodable, Sendable {
    package var error: String
    package var errorDescription: String?
    package var wechatErrcode: Int?

    enum CodingKeys: String, CodingKey {
        case error
        case errorDescription = "error_description"
        case wechatErrcode = "wechat_errcode"
    }
}

/// The claims of `GET /userinfo` (§4).
package struct UserInfoClaims: Decodable, Sendable {
    package var sub: String
    package var openid: String
    package var unionid: String?
    package var nickname: String?
    package var picture: String?
    package var phoneNumber: String?
    package var updatedAt: Int

    enum CodingKeys: String, CodingKey {
        case sub, openid, unionid, nickname, picture
        case phoneNumber = "phone_number"
        case updatedAt = "updated_at"
    }
}

/// A JWK Set, public or private (§5, §7 `keys`): every member of a key is a string.
package struct JWKSetShape: Decodable, Sendable {
    package var keys: [[String: String]]
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
