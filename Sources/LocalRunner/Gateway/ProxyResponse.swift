import Foundation
import GatewayHTTP
import HTTPTypes
import Hummingbird
import NIOCore

/// How the gateway maps what a function did to an HTTP response, as API Gateway does: a proxy response's
/// status, headers, cookies and body; a timeout 504; a crash or invalid output 502; static pages; errors.
extension FunctionGateway {
    /// The HTTP response for a finished invocation, and what went wrong when the platform answers instead.
    static func response(for result: InvocationResult) -> (response: Response, problem: String?) {
        switch result.outcome.termination {
        case .timedOut:
            let seconds = Invocation.secondsText(result.function.timeout)
            return (
                GatewayHTTP.error(
                    .gatewayTimeout,
                    "gateway_timeout",
                    "the function did not answer within \(seconds) s"
                ),
                result.problem
            )
        case .cancelled:
            return (GatewayHTTP.error(.badGateway, "bad_gateway", "the invocation was interrupted"), result.problem)
        case .outOfMemory:
            return (
                GatewayHTTP.error(.badGateway, "bad_gateway", "the function exceeded its memory size"), result.problem
            )
        case .signaled, .exited(1...), .exited(...(-1)):
            return (GatewayHTTP.error(.badGateway, "bad_gateway", "the function crashed"), result.problem)
        case .exited:
            return response(forPayload: result.outcome.stdout)
        }
    }

    /// The HTTP response for what a function answered (its stdout, or the body it posted to the runtime
    /// API), mapped as API Gateway maps a Lambda proxy response of payload version 2.0.
    static func response(forPayload stdout: [UInt8]) -> (response: Response, problem: String?) {
        let invalid = { (why: String) -> (Response, String?) in
            let preview = String(decoding: stdout.prefix(200), as: UTF8.self)
            return (
                GatewayHTTP.error(.badGateway, "bad_gateway", "the function returned an invalid response"),
                "invalid response: \(why)" + (preview.isEmpty ? " (stdout was empty)" : ": \(preview)")
            )
        }
        guard let value = try? JSONSerialization.jsonObject(with: Data(stdout), options: [.fragmentsAllowed]) else {
            return invalid("stdout is not JSON")
        }
        guard let object = value as? [String: Any], let rawStatus = object["statusCode"] else {
            // API Gateway's v2.0 rule: valid JSON without a statusCode is the body of a 200.
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            let trimmed = String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return (Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: trimmed))), nil)
        }
        guard let number = rawStatus as? NSNumber, !(number is Bool),
            number.doubleValue == number.doubleValue.rounded(),
            (100...599).contains(number.intValue)
        else {
            return invalid("statusCode is not an HTTP status")
        }
        var headers: [(name: String, value: String)] = []
        if let rawHeaders = object["headers"] {
            guard let map = rawHeaders as? [String: Any] else { return invalid("headers is not an object") }
            for (name, rawValue) in map {
                guard HTTPField.Name(name) != nil else { return invalid("'\(name)' is not a header name") }
                switch rawValue {
                case let string as String: headers.append((name, string))
                case let number as NSNumber: headers.append((name, number.stringValue))
                default: return invalid("header '\(name)' is not a string")
                }
            }
        }
        var cookies: [String] = []
        if let rawCookies = object["cookies"] {
            guard let list = rawCookies as? [String] else { return invalid("cookies is not a list of strings") }
            cookies = list
        }
        var body: [UInt8] = []
        if let rawBody = object["body"], !(rawBody is NSNull) {
            guard let text = rawBody as? String else { return invalid("body is not a string") }
            if (object["isBase64Encoded"] as? Bool) == true {
                guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                    return invalid("body is not base64 though isBase64Encoded is true")
                }
                body = Array(data)
            } else {
                body = Array(text.utf8)
            }
        }
        return (
            GatewayHTTP.response(status: number.intValue, headers: headers, cookies: cookies, body: body),
            nil
        )
    }
}
