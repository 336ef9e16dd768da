#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One HTTP request as a FaaS platform hands it to a function, whatever the event version it came in.
public struct FunctionRequest: Sendable, Equatable {
    /// Upper-case HTTP method, e.g. `GET`.
    public var method: String
    /// The request path, e.g. `/login`.
    public var path: String
    /// Query parameters, percent-decoded; a repeated name keeps its first value.
    public var query: [String: String]
    /// Headers with lower-case names; repeated headers are comma-joined as API Gateway does.
    public var headers: [String: String]
    /// Cookies sent by the client, by name.
    public var cookies: [String: String]
    /// The decoded body bytes (empty when there is none).
    public var body: [UInt8]
    /// The platform's request id, or one made up when the event carried none.
    public var requestId: String
    /// The client's address as the platform saw it (`requestContext.http.sourceIp`, v1.0's
    /// `requestContext.identity.sourceIp`), when the event says.
    public var sourceIP: String?

    public init(
        method: String,
        path: String,
        query: [String: String] = [:],
        headers: [String: String] = [:],
        cookies: [String: String] = [:],
        body: [UInt8] = [],
        requestId: String = "local",
        sourceIP: String? = nil
    ) {
        self.method = method.uppercased()
        self.path = path
        self.query = query
        self.headers = Dictionary(
            headers.map { ($0.key.lowercased(), $0.value) },
            uniquingKeysWith: { a, b in "\(a),\(b)" }
        )
        self.cookies = cookies
        self.body = body
        self.requestId = requestId
        self.sourceIP = sourceIP
    }

    /// The value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers[name.lowercased()]
    }

    /// The bearer token of the `Authorization` header, if it carries one.
    public var bearerToken: String? {
        guard let value = header("authorization") else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingSpaces()
        return token.isEmpty ? nil : token
    }
}

extension StringProtocol {
    /// The pieces between occurrences of an ASCII separator, split on bytes. Splitting on `Character`s would not
    /// split where the separator is followed by a combining mark (`;` + U+0CF3 is one grapheme), so a cookie or
    /// query parameter could swallow the next one; found by the `cookies` fuzz target.
    package func splitting(
        atASCII separator: Unicode.Scalar,
        maxSplits: Int = .max,
        omittingEmpty: Bool = true
    ) -> [String] {
        utf8.split(separator: UInt8(ascii: separator), maxSplits: maxSplits, omittingEmptySubsequences: omittingEmpty)
            .map { String(decoding: $0, as: UTF8.self) }
    }

    /// The text without leading and trailing spaces, tabs and line breaks (FoundationEssentials has no trimming).
    public func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
