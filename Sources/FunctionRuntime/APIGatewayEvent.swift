import Encodings

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why an event could not become a ``FunctionRequest``; the text is safe to show the caller.
public struct EventError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var description: String

    static func badRequest(_ text: String) -> EventError { EventError(status: 400, description: text) }
    static func tooLarge(_ text: String) -> EventError { EventError(status: 413, description: text) }
}

/// An API Gateway HTTP API event, payload v2.0 or v1.0 (v1.0 is also Tencent SCF's API-gateway shape, and SCF's
/// Function URL events are that shape without `requestContext` and `queryStringParameters`).
///
/// Every member is optional so that unknown shapes are tolerated; ``request(maxBodyBytes:fallbackRequestId:)``
/// decides what is required. Unknown members are ignored; a known member of the wrong type is refused.
struct APIGatewayEvent {
    struct RequestContext {
        struct HTTP {
            var method: String?
            var path: String?
            var sourceIp: String?
        }
        var http: HTTP?
        /// v1.0's `identity.sourceIp`, or Tencent SCF's `sourceIp`.
        var sourceIp: String?
        var requestId: String?
        var httpMethod: String?
        var path: String?
    }

    var version: String?
    var rawPath: String?
    var rawQueryString: String?
    var path: String?
    var httpMethod: String?
    /// In the event's order, so that case variants of one name merge in a predictable order.
    var headers: [(String, String?)]?
    var queryStringParameters: [String: String?]?
    /// SCF's complete query (`queryString`), name → first value.
    var queryString: [String: String]?
    var cookies: [String]?
    var requestContext: RequestContext?
    var body: String?
    var isBase64Encoded: Bool?

    /// Decodes an event from raw stdin bytes; every failure is an ``EventError``.
    static func decode(_ bytes: [UInt8]) throws(EventError) -> APIGatewayEvent {
        let trimmed = bytes.drop(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 })
        guard !trimmed.isEmpty else { throw .badRequest("the event is empty; expected one JSON object") }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw .badRequest("the event is not valid UTF-8")
        }
        let root: EventJSON
        do {
            root = try EventJSON.parse(bytes)
        } catch {
            throw .badRequest("the event is not valid JSON")
        }
        guard root.isObject else { throw .badRequest("the event is \(root.kind), not a JSON object") }
        var event = APIGatewayEvent()
        event.version = try string(root, "version")
        event.rawPath = try string(root, "rawPath")
        event.rawQueryString = try string(root, "rawQueryString")
        event.path = try string(root, "path")
        event.httpMethod = try string(root, "httpMethod")
        event.headers = try stringPairs(root, "headers")
        event.queryStringParameters = try stringMap(root, "queryStringParameters")
        event.queryString = try scfQuery(root)
        event.body = try string(root, "body")
        if let flag = root["isBase64Encoded"] {
            switch flag {
            case .bool(let value): event.isBase64Encoded = value
            case .null: break
            default: throw wrongType("isBase64Encoded")
            }
        }
        if let cookies = root["cookies"] {
            switch cookies {
            case .array(let items):
                event.cookies = try items.map { item throws(EventError) in
                    guard case .string(let text) = item else { throw wrongType("cookies") }
                    return text
                }
            case .null: break
            default: throw wrongType("cookies")
            }
        }
        if let context = try object(root, "requestContext") {
            var requestContext = RequestContext()
            requestContext.requestId = try string(context, "requestId", in: "requestContext")
            requestContext.httpMethod = try string(context, "httpMethod", in: "requestContext")
            requestContext.path = try string(context, "path", in: "requestContext")
            if let http = try object(context, "http", in: "requestContext") {
                requestContext.http = RequestContext.HTTP(
                    method: try string(http, "method", in: "requestContext.http"),
                    path: try string(http, "path", in: "requestContext.http"),
                    sourceIp: try string(http, "sourceIp", in: "requestContext.http")
                )
            }
            requestContext.sourceIp = try string(context, "sourceIp", in: "requestContext")
            if let identity = try object(context, "identity", in: "requestContext"),
                let sourceIp = try string(identity, "sourceIp", in: "requestContext.identity")
            {
                requestContext.sourceIp = sourceIp
            }
            event.requestContext = requestContext
        }
        return event
    }

    private static func wrongType(_ path: String) -> EventError {
        .badRequest("the event has a member of the wrong type at '\(path)'")
    }

    private static func string(
        _ object: EventJSON,
        _ key: String,
        in parent: String? = nil
    ) throws(EventError) -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw wrongType(parent.map { "\($0).\(key)" } ?? key)
        }
    }

    private static func object(
        _ object: EventJSON,
        _ key: String,
        in parent: String? = nil
    ) throws(EventError) -> EventJSON? {
        switch object[key] {
        case nil, .null?: return nil
        case let value? where value.isObject: return value
        default: throw wrongType(parent.map { "\($0).\(key)" } ?? key)
        }
    }

    private static func stringMap(_ object: EventJSON, _ key: String) throws(EventError) -> [String: String?]? {
        guard let pairs = try stringPairs(object, key) else { return nil }
        var map: [String: String?] = [:]
        for (name, value) in pairs where map[name] == nil { map[name] = .some(value) }
        return map
    }

    /// The string (or null) members of the object at `key`, in order; a repeated name keeps its first value.
    private static func stringPairs(_ object: EventJSON, _ key: String) throws(EventError) -> [(String, String?)]? {
        switch object[key] {
        case nil, .null?: return nil
        case .object(let members)?:
            var seen: Set<String> = []
            var pairs: [(String, String?)] = []
            for (name, value) in members {
                let text: String?
                switch value {
                case .string(let string): text = string
                case .null: text = nil
                default: throw wrongType("\(key).\(name)")
                }
                if seen.insert(name).inserted { pairs.append((name, text)) }
            }
            return pairs
        default: throw wrongType(key)
        }
    }

    /// SCF's `queryString`: an object of strings (a repeated name as an array of them) in Function URL and
    /// API-gateway events; a raw query string is accepted too.
    private static func scfQuery(_ object: EventJSON) throws(EventError) -> [String: String]? {
        switch object["queryString"] {
        case nil, .null?: return nil
        case .string(let raw)?: return QueryString.parse(raw)
        case .object(let members)?:
            var query: [String: String] = [:]
            for (name, value) in members where query[name] == nil {
                switch value {
                case .string(let text): query[name] = text
                case .null: continue
                case .array(let items):
                    for item in items {
                        guard case .string(let text) = item else { throw wrongType("queryString.\(name)") }
                        if query[name] == nil { query[name] = text }
                    }
                default: throw wrongType("queryString.\(name)")
                }
            }
            return query
        default: throw wrongType("queryString")
        }
    }

    /// The request this event describes, or why it cannot be served.
    func request(maxBodyBytes: Int, fallbackRequestId: String) throws(EventError) -> FunctionRequest {
        let method = requestContext?.http?.method ?? httpMethod ?? requestContext?.httpMethod
        guard let method, !method.isEmpty else {
            throw .badRequest("the event has no HTTP method (requestContext.http.method or httpMethod)")
        }
        let path = rawPath ?? path ?? requestContext?.http?.path ?? requestContext?.path ?? "/"

        // Case variants of one name are comma-joined as API Gateway does, collected first and joined once:
        // appending to a growing string per variant made 64,000 variants of one name quadratic.
        var variants: [String: [String]] = [:]
        for (name, value) in self.headers ?? [] {
            guard let value else { continue }
            variants[name.lowercased(), default: []].append(value)
        }
        let headers = variants.mapValues { $0.joined(separator: ",") }

        var query: [String: String] = [:]
        if let raw = rawQueryString, !raw.isEmpty {
            query = QueryString.parse(raw)
        } else if let queryString {
            query = queryString
        } else {
            for (name, value) in queryStringParameters ?? [:] {
                if let value { query[name] = value }
            }
        }

        var cookies: [String: String] = [:]
        let cookieHeaders = (self.cookies ?? []) + (headers["cookie"].map { [$0] } ?? [])
        for header in cookieHeaders {
            for pair in header.splitting(atASCII: ";") {
                let parts = pair.splitting(atASCII: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let name = parts[0].trimmingSpaces()
                if cookies[name] == nil {
                    cookies[name] = parts[1].trimmingSpaces()
                }
            }
        }

        var bodyBytes: [UInt8] = []
        if let body, !body.isEmpty {
            if isBase64Encoded == true {
                guard body.utf8.count <= (maxBodyBytes / 3 + 1) * 4 + 4 else {
                    throw .tooLarge("the request body exceeds \(maxBodyBytes) bytes")
                }
                guard let data = Data(base64Encoded: body, options: .ignoreUnknownCharacters),
                    Self.isPlausibleBase64(body)
                else {
                    throw .badRequest("the body is marked isBase64Encoded but is not valid base64")
                }
                bodyBytes = Array(data)
            } else {
                bodyBytes = Array(body.utf8)
            }
            guard bodyBytes.count <= maxBodyBytes else {
                throw .tooLarge("the request body exceeds \(maxBodyBytes) bytes")
            }
        }

        var request = FunctionRequest(method: method, path: path, query: query, body: bodyBytes)
        request.headers = headers
        request.cookies = cookies
        request.requestId = requestContext?.requestId.flatMap { $0.isEmpty ? nil : $0 } ?? fallbackRequestId
        request.sourceIP = requestContext?.http?.sourceIp ?? requestContext?.sourceIp
        return request
    }

    /// `Data(base64Encoded:options:.ignoreUnknownCharacters)` would accept anything; require real base64 text
    /// (whitespace allowed, as MIME line breaks are common).
    private static func isPlausibleBase64(_ text: String) -> Bool {
        var count = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="):
                count += 1
            case 0x20, 0x0A, 0x0D, 0x09:
                continue
            default:
                return false
            }
        }
        return count % 4 == 0
    }
}

/// Parsing of `application/x-www-form-urlencoded` query strings.
public enum QueryString {
    /// Name → value; `+` is a space and `%XX` is decoded; the first of repeated names wins.
    public static func parse(_ raw: some StringProtocol) -> [String: String] {
        var result: [String: String] = [:]
        for pair in raw.splitting(atASCII: "&") {
            let parts = pair.splitting(atASCII: "=", maxSplits: 1, omittingEmpty: false)
            let name = percentDecode(parts[0])
            let value = parts.count > 1 ? percentDecode(parts[1]) : ""
            if result[name] == nil { result[name] = value }
        }
        return result
    }

    /// Decodes `%XX` escapes and `+`; malformed escapes are kept as they are.
    public static func percentDecode(_ text: some StringProtocol) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let high = Hex.value(of: iterator[iterator.startIndex]),
                let low = Hex.value(of: iterator[iterator.startIndex + 1])
            {
                bytes.append(high << 4 | low)
                iterator.removeFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters.
    public static func percentEncode(_ text: some StringProtocol) -> String { PercentEncoding.encode(text) }
}
