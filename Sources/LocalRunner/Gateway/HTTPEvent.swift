import Foundation
import FunctionRuntime

/// An HTTP request as an API Gateway HTTP API payload v2.0 event, the shape a function reads on stdin.
public struct HTTPEvent: Sendable, Equatable {
    /// Upper-case method, e.g. `POST`.
    public var method: String
    /// The path without query, e.g. `/login`.
    public var path: String
    /// The query string without `?`, already percent-encoded.
    public var rawQueryString: String
    /// Header names are lower-cased when the event is built, as API Gateway does.
    public var headers: [String: String]
    /// The body text (base64 when `isBase64Encoded`); nil for none.
    public var body: String?
    /// True when `body` is the base64 of binary bytes.
    public var isBase64Encoded: Bool = false
    /// `requestContext.http.sourceIp`.
    public var sourceIP: String = "127.0.0.1"
    /// API Gateway's `requestContext.requestId`.
    public var requestID: String

    /// Describes a request.
    public init(
        method: String,
        path: String,
        rawQueryString: String = "",
        headers: [String: String] = [:],
        body: String? = nil,
        requestID: String = UUID().uuidString.lowercased()
    ) {
        self.method = method
        self.path = path
        self.rawQueryString = rawQueryString
        self.headers = headers
        self.body = body
        self.requestID = requestID
    }

    /// An event for a request as it came off the wire, as API Gateway builds it: repeated headers
    /// comma-joined (several `Cookie` headers joined with `; `), and the body as text when the content
    /// type is textual (or absent) and the bytes are UTF-8, else base64 with `isBase64Encoded`.
    public init(
        method: String,
        path: String,
        rawQueryString: String,
        headerFields: [(name: String, value: String)],
        body bytes: [UInt8],
        sourceIP: String,
        requestID: String = UUID().uuidString.lowercased()
    ) {
        let merged = GatewayEvent.mergedHeaders(headerFields)
        var headers = Dictionary(merged.headers.map { ($0.name, $0.value) }) { first, _ in first }
        // Kept as one `Cookie` header until encoded, where v2.0 moves it into `cookies`.
        if !merged.cookies.isEmpty { headers["cookie"] = merged.cookies.joined(separator: "; ") }
        let body = GatewayEvent.bodyField(bytes, contentType: headers["content-type"])
        self.init(
            method: method,
            path: path,
            rawQueryString: rawQueryString,
            headers: headers,
            body: body?.text,
            requestID: requestID
        )
        self.isBase64Encoded = body?.isBase64Encoded ?? false
        self.sourceIP = sourceIP
    }

    /// Whether a body of this media type is passed as text: JSON, XML, form data, `text/*`, JavaScript,
    /// or no content type at all. Anything else (images, octet streams, multipart) is passed as base64.
    public static func isTextual(contentType: String?) -> Bool {
        GatewayEvent.isTextual(contentType: contentType)
    }

    /// The event's JSON bytes.
    public func encoded(now: Date = Date()) -> [UInt8] {
        var headers: [String: String] = [:]
        for (name, value) in self.headers {
            let key = name.lowercased()
            headers[key] = headers[key].map { "\($0),\(value)" } ?? value
        }
        // v2.0 moves the Cookie header into `cookies`, one entry per cookie.
        let cookies = headers.removeValue(forKey: "cookie").map {
            $0.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        var query: [String: String] = [:]
        for pair in rawQueryString.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            query[name] = query[name].map { "\($0),\(value)" } ?? value
        }
        let milliseconds = Int64(now.timeIntervalSince1970 * 1000)
        let event = V2Event(
            routeKey: "\(method) \(path)",
            rawPath: path,
            rawQueryString: rawQueryString,
            cookies: cookies,
            headers: headers,
            queryStringParameters: query.isEmpty ? nil : query,
            requestContext: .init(
                http: .init(
                    method: method,
                    path: path,
                    sourceIp: sourceIP,
                    userAgent: headers["user-agent"] ?? ""
                ),
                requestId: requestID,
                routeKey: "\(method) \(path)",
                time: Self.time(now),
                timeEpoch: milliseconds
            ),
            body: body,
            isBase64Encoded: isBase64Encoded
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        return (try? Array(encoder.encode(event))) ?? Array("{}".utf8)
    }

    /// API Gateway's `requestContext.time`, e.g. `12/Mar/2020:19:03:58 +0000`.
    private static func time(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "dd/MMM/yyyy:HH:mm:ss Z"
        return formatter.string(from: date)
    }
}

/// The v2.0 payload's fields, named as AWS names them.
private struct V2Event: Encodable {
    struct RequestContext: Encodable {
        struct HTTP: Encodable {
            var method: String
            var path: String
            var `protocol` = "HTTP/1.1"
            var sourceIp: String
            var userAgent: String
        }
        var accountId = "anonymous"
        var apiId = "local"
        var domainName = "localhost"
        var domainPrefix = "localhost"
        var http: HTTP
        var requestId: String
        var routeKey: String
        var stage = "$default"
        var time: String
        var timeEpoch: Int64
    }
    var version = "2.0"
    var routeKey: String
    var rawPath: String
    var rawQueryString: String
    var cookies: [String]?
    var headers: [String: String]
    var queryStringParameters: [String: String]?
    var requestContext: RequestContext
    var body: String?
    var isBase64Encoded: Bool
}
