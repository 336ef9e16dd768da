#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The response a function gives back: API Gateway's Lambda proxy response shape (CONTRACT §2).
public struct FunctionResponse: Sendable, Equatable, Codable {
    public var statusCode: Int
    public var headers: [String: String]
    /// Each element is one `Set-Cookie` value.
    public var cookies: [String]?
    public var body: String
    public var isBase64Encoded: Bool

    public init(
        statusCode: Int,
        headers: [String: String] = [:],
        cookies: [String]? = nil,
        body: String = "",
        isBase64Encoded: Bool = false
    ) {
        self.statusCode = statusCode
        self.headers = headers
        self.cookies = cookies
        self.body = body
        self.isBase64Encoded = isBase64Encoded
    }

    /// A JSON response from an encodable value.
    public static func json(
        _ status: Int,
        _ value: some Encodable,
        headers: [String: String] = [:]
    ) -> FunctionResponse {
        let body = (try? JSONCoding.encodeString(value)) ?? "{}"
        var allHeaders = headers
        allHeaders["content-type"] = "application/json"
        return FunctionResponse(statusCode: status, headers: allHeaders, body: body)
    }

    /// An OAuth 2.0 style error response (RFC 6749 §5.2): `{"error", "error_description"}`.
    public static func error(
        _ status: Int,
        code: String,
        description: String,
        extra: [String: Int] = [:],
        headers: [String: String] = [:]
    ) -> FunctionResponse {
        json(status, ErrorBody(error: code, errorDescription: description, extra: extra), headers: headers)
    }
}

/// The JSON error body of CONTRACT §3.
struct ErrorBody: Encodable {
    var error: String
    var errorDescription: String
    /// Extra integer members such as `wechat_errcode`.
    var extra: [String: Int]

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        try container.encode(error, forKey: DynamicKey("error"))
        try container.encode(errorDescription, forKey: DynamicKey("error_description"))
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) {
            try container.encode(value, forKey: DynamicKey(key))
        }
    }
}

struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Shared JSON coders: snake_case keys are spelled out by each type, so plain coders suffice.
public enum JSONCoding {
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    public static func encodeString(_ value: some Encodable) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}
