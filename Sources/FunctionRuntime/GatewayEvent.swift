#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The API Gateway HTTP API payload v2.0 event for an HTTP request as it came off the wire, built as API Gateway
/// builds it: header names lower-cased, repeated headers comma-joined, the `Cookie` header moved to `cookies`,
/// and the body as text when its media type is textual and it is UTF-8, else base64 with `isBase64Encoded`.
/// `wxauth-http` feeds these to the same bytes core as stdin, so a request is answered exactly as its event is.
public enum GatewayEvent {
    /// The event's JSON bytes.
    public static func v2(
        method: String,
        path: String,
        rawQueryString: String,
        headerFields: [(name: String, value: String)],
        body: [UInt8],
        sourceIp: String,
        requestId: String
    ) -> [UInt8] {
        let (headers, cookies) = mergedHeaders(headerFields)
        var json = "{\"version\":\"2.0\",\"routeKey\":\"$default\",\"rawPath\":" + JSONText.quote(path)
        json += ",\"rawQueryString\":" + JSONText.quote(rawQueryString)
        if !cookies.isEmpty { json += ",\"cookies\":[" + cookies.map(JSONText.quote).joined(separator: ",") + "]" }
        json +=
            ",\"headers\":{"
            + headers.map { JSONText.quote($0.name) + ":" + JSONText.quote($0.value) }.joined(separator: ",")
            + "}"
        json +=
            ",\"requestContext\":{\"http\":{\"method\":" + JSONText.quote(method) + ",\"path\":" + JSONText.quote(path)
        json += ",\"protocol\":\"HTTP/1.1\",\"sourceIp\":" + JSONText.quote(sourceIp)
        json += ",\"userAgent\":" + JSONText.quote(headers.first { $0.name == "user-agent" }?.value ?? "") + "}"
        json += ",\"requestId\":" + JSONText.quote(requestId) + ",\"routeKey\":\"$default\",\"stage\":\"$default\""
        json += ",\"timeEpoch\":" + String(WallClock.nowMilliseconds()) + "}"
        if let body = bodyField(body, contentType: headers.first { $0.name == "content-type" }?.value) {
            json += ",\"body\":" + JSONText.quote(body.text) + ",\"isBase64Encoded\":\(body.isBase64Encoded)}"
        } else {
            json += ",\"isBase64Encoded\":false}"
        }
        return Array(json.utf8)
    }

    /// Header fields as API Gateway passes them: names lower-cased, repeated headers comma-joined in the order
    /// they came, and the `Cookie` headers split into their cookies (empty pieces dropped).
    package static func mergedHeaders(
        _ fields: [(name: String, value: String)]
    ) -> (headers: [(name: String, value: String)], cookies: [String]) {
        var headers: [(name: String, value: String)] = []
        var cookies: [String] = []
        for (name, value) in fields {
            let key = name.lowercased()
            if key == "cookie" {
                cookies += value.split(separator: ";").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
            } else if let index = headers.firstIndex(where: { $0.name == key }) {
                headers[index].value += "," + value
            } else {
                headers.append((key, value))
            }
        }
        return (headers, cookies)
    }

    /// A request body as API Gateway passes it: text when its media type is textual and it is UTF-8, else base64
    /// with `isBase64Encoded`; nil when there is none.
    package static func bodyField(_ bytes: [UInt8], contentType: String?) -> (text: String, isBase64Encoded: Bool)? {
        guard !bytes.isEmpty else { return nil }
        if isTextual(contentType: contentType), let text = String(validating: bytes, as: UTF8.self) {
            return (text, false)
        }
        return (Data(bytes).base64EncodedString(), true)
    }

    /// Whether a body of this media type is passed as text: JSON, XML, form data, `text/*`, JavaScript,
    /// or no content type at all. Anything else (images, octet streams, multipart) is passed as base64.
    public static func isTextual(contentType: String?) -> Bool {
        guard let contentType else { return true }
        let media = (contentType.split(separator: ";", omittingEmptySubsequences: false).first ?? "")
            .trimmingSpaces().lowercased()
        guard !media.isEmpty else { return true }
        if media.hasPrefix("text/") || media.hasSuffix("+json") || media.hasSuffix("+xml") { return true }
        return [
            "application/json", "application/xml", "application/x-www-form-urlencoded", "application/javascript",
        ].contains(media)
    }
}
