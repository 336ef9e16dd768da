import Foundation
import FunctionRuntime
import TestSupport
import Testing

/// Tencent SCF's event shapes, and the payload v2.0 events `wxauth-http` builds from HTTP requests.
@Suite struct SCFEventTests {
    /// The harness and echo handler of the payload v1/v2 tests: SCF's shapes go through the same core.
    let decoding = EventDecodingTests()

    /// The status of the response to `event` and what the handler saw, or the error it is (`Body`).
    func run<Body: Decodable>(
        _ event: [UInt8],
        fallbackRequestId: String? = nil,
        as type: Body.Type = EventDecodingTests.Seen.self
    ) async throws -> (Int, Body) {
        let response = await decoding.harness.response(
            to: event,
            fallbackRequestId: fallbackRequestId,
            handler: decoding.echo
        )
        return (response.statusCode, try decodeJSON(from: response.body))
    }

    @Test func decodesAFunctionURLEvent() async throws {
        let event = #"""
            {"body":"{\"code\":\"abc\"}","headers":{"accept":"*/*","content-type":"application/json","cookie":"a=1; b=2"},
             "httpMethod":"POST","path":"/","queryString":{"x":"1","y":["first","second"],"z":null}}
            """#
        let (status, seen) = try await run(Array(event.utf8), fallbackRequestId: "scf-request-1")
        #expect(status == 200)
        #expect(seen.method == "POST")
        #expect(seen.path == "/")
        #expect(seen.query == ["x": "1", "y": "first"])
        #expect(seen.cookies == ["a": "1", "b": "2"])
        #expect(seen.body == #"{"code":"abc"}"#)
        #expect(seen.requestId == "scf-request-1", "the platform's request id when the event has none")
    }

    @Test func decodesAnAPIGatewayTriggerEvent() async throws {
        let event = #"""
            {"requestContext":{"serviceId":"service-f94sy04v","path":"/test/{path}","httpMethod":"GET","requestId":"c6af9ac6",
             "identity":{"secretId":"abdcdxxxxxxxsdfs"},"sourceIp":"10.0.2.14","stage":"release"},
             "headers":{"accept-Language":"en-US,en,cn","accept":"text/html"},"body":"","pathParameters":{"path":"value"},
             "queryStringParameters":{"foo":"bar"},"headerParameters":{"Refer":"10.0.2.14"},"stageVariables":{"stage":"release"},
             "path":"/test/value","queryString":{"foo":"bar","bob":"alice"},"httpMethod":"GET"}
            """#
        let (status, seen) = try await run(Array(event.utf8), fallbackRequestId: "unused")
        #expect(status == 200)
        #expect(seen.path == "/test/value")
        #expect(
            seen.query == ["foo": "bar", "bob": "alice"],
            "the complete queryString wins"
        )
        #expect(seen.headers["accept-language"] == "en-US,en,cn")
        #expect(seen.requestId == "c6af9ac6")
    }

    @Test(arguments: [#"{"httpMethod":"GET","queryString":5}"#, #"{"httpMethod":"GET","queryString":{"a":[1]}}"#])
    func refusesAWrongTypedQueryString(_ event: String) async throws {
        let (status, body) = try await run(Array(event.utf8), as: Refusal.self)
        #expect(status == 400)
        #expect(body.error_description?.contains("queryString") == true)
    }

    @Test func acceptsARawQueryString() async throws {
        let (_, seen) = try await run(Array(#"{"httpMethod":"GET","queryString":"a=1&b=x%20y"}"#.utf8))
        #expect(seen.query == ["a": "1", "b": "x y"])
    }

    @Test func anHTTPRequestBecomesThePayloadV2EventAPIGatewayWouldSend() async throws {
        let event = GatewayEvent.v2(
            method: "POST",
            path: "/login",
            rawQueryString: "return_to=%2Fapp",
            headerFields: [
                ("Content-Type", "application/json"), ("X-Multi", "1"), ("x-multi", "2"), ("Cookie", "a=1; b=2"),
                ("Cookie", "c=3"),
            ],
            body: Array(#"{"code":"x"}"#.utf8),
            sourceIp: "203.0.113.9",
            requestId: "http-1"
        )
        let object = try decodeJSON(PayloadV2Event.self, from: event)
        #expect(object.version == "2.0")
        #expect(object.cookies == ["a=1", "b=2", "c=3"])
        #expect(object.headers == ["content-type": "application/json", "x-multi": "1,2"])
        #expect(object.requestContext.http.sourceIp == "203.0.113.9")
        #expect(object.isBase64Encoded == false)
        let (status, seen) = try await run(event)
        #expect(status == 200)
        #expect(seen.query == ["return_to": "/app"])
        #expect(seen.cookies == ["a": "1", "b": "2", "c": "3"])
        #expect(seen.requestId == "http-1")

        let binary = GatewayEvent.v2(
            method: "POST",
            path: "/x",
            rawQueryString: "",
            headerFields: [("content-type", "application/octet-stream")],
            body: [0xFF, 0x00],
            sourceIp: "::1",
            requestId: "http-2"
        )
        let binaryObject = try decodeJSON(PayloadV2Event.self, from: binary)
        #expect(binaryObject.isBase64Encoded == true)
        #expect(binaryObject.body == "/wA=")
    }
}
