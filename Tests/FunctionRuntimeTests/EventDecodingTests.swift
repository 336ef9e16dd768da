import Foundation
import FunctionRuntime
import TestSupport
import Testing

@Suite struct EventDecodingTests {
    let harness = FunctionHarness(functionName: "test", maxEventBytes: 1024 * 1024, maxBodyBytes: 1024)

    /// What the handler saw, as `echo` answers it.
    struct Seen: Codable {
        var method: String
        var path: String
        var query: [String: String]
        var headers: [String: String]
        var cookies: [String: String]
        var body: String
        var requestId: String
    }

    /// Echoes what the handler saw, so tests can check the decoded request.
    let echo: FunctionHandler = { request, _ in
        .json(
            200,
            Seen(
                method: request.method,
                path: request.path,
                query: request.query,
                headers: request.headers,
                cookies: request.cookies,
                body: String(decoding: request.body, as: UTF8.self),
                requestId: request.requestId
            )
        )
    }

    /// The response to `event` and what the handler saw.
    func run(_ event: String) async throws -> (FunctionResponse, Seen) {
        let response = try await respond(event)
        return (response, try decodeJSON(from: response.body))
    }

    /// The response to `event` and the error it is.
    func refuse(_ event: String) async throws -> (FunctionResponse, Refusal) {
        let response = try await respond(event)
        return (response, try decodeJSON(from: response.body))
    }

    func respond(_ event: String) async throws -> FunctionResponse {
        try decodeJSON(from: await harness.respond(to: Array(event.utf8), handler: echo))
    }

    @Test func decodesPayloadV2() async throws {
        let event = """
            {"version":"2.0","routeKey":"POST /login","rawPath":"/login","rawQueryString":"a=1&b=x%20y&a=2",
             "cookies":["wxauth_refresh=abc","theme=dark"],"headers":{"content-type":"application/json","x-multi":"1,2"},
             "queryStringParameters":{"a":"1,2","b":"x y"},
             "requestContext":{"http":{"method":"POST","path":"/login"},"requestId":"req-123"},
             "body":"eyJjb2RlIjoiYWJjIn0=","isBase64Encoded":true}
            """
        let (response, seen) = try await run(event)
        #expect(response.statusCode == 200)
        #expect(seen.method == "POST")
        #expect(seen.path == "/login")
        #expect(seen.query == ["a": "1", "b": "x y"])
        #expect(seen.cookies == ["wxauth_refresh": "abc", "theme": "dark"])
        #expect(seen.body == #"{"code":"abc"}"#)
        #expect(seen.requestId == "req-123")
        #expect(seen.headers["content-type"] == "application/json")
    }

    @Test func decodesPayloadV1AndSCF() async throws {
        let v1 = """
            {"version":"1.0","httpMethod":"get","path":"/userinfo","headers":{"Authorization":"Bearer t","Cookie":"a=b"},
             "queryStringParameters":null,"multiValueHeaders":null,"requestContext":{"requestId":"v1-id"},"body":null,
             "isBase64Encoded":false}
            """
        let (_, seen) = try await run(v1)
        #expect(seen.method == "GET")
        #expect(seen.path == "/userinfo")
        #expect(seen.headers["authorization"] == "Bearer t")
        #expect(seen.cookies == ["a": "b"])

        let scf = """
            {"requestContext":{"serviceId":"s","path":"/login","httpMethod":"POST","requestId":"scf-1","stage":"release"},
             "headers":{"content-type":"application/json"},"body":"{\\"code\\":\\"x\\"}","pathParameters":{},
             "queryStringParameters":{"q":"1"},"headerParameters":{},"path":"/login","queryString":{"q":"1"},"httpMethod":"POST"}
            """
        let (response, scfSeen) = try await run(scf)
        #expect(response.statusCode == 200)
        #expect(scfSeen.body == #"{"code":"x"}"#)
        #expect(scfSeen.query == ["q": "1"])
        #expect(scfSeen.requestId == "scf-1")
    }

    @Test(arguments: [
        ("", 400), ("   \n", 400), ("not json", 400), ("[]", 400), ("\"str\"", 400), ("{", 400),
        (#"{"headers":5,"httpMethod":"GET"}"#, 400), (#"{"httpMethod":"GET","body":7}"#, 400),
        (#"{"requestContext":{"http":{"method":"POST"}},"body":"%%%","isBase64Encoded":true}"#, 400),
        (#"{"requestContext":{"http":{"method":"POST"}},"body":"abc","isBase64Encoded":true}"#, 400),
        (#"{"version":"2.0","rawPath":"/x"}"#, 400),
        (#"{"httpMethod":"GET","isBase64Encoded":"yes"}"#, 400),
    ])
    func refusesMalformedEvents(event: String, status: Int) async throws {
        let (response, body) = try await refuse(event)
        #expect(response.statusCode == status)
        #expect(body.error == "invalid_request")
        #expect(response.headers["content-type"] == "application/json")
    }

    /// Input not starting with `{` is described for what it is: not JSON at all, or JSON of another kind.
    @Test(arguments: [
        ("not json", "the event is not valid JSON"), ("{", "the event is not valid JSON"),
        ("[]", "the event is a JSON array, not a JSON object"),
        ("\"str\"", "the event is a JSON string, not a JSON object"),
        (" 12 ", "the event is a JSON number, not a JSON object"),
        ("null", "the event is JSON null, not a JSON object"),
        ("true", "the event is a JSON boolean, not a JSON object"), ("[1,]", "the event is not valid JSON"),
    ])
    func describesWhatAnEventThatIsNoObjectIs(event: String, description: String) async throws {
        let (response, body) = try await refuse(event)
        #expect(response.statusCode == 400)
        #expect(body.error_description == description)
    }

    /// 64,000 case variants of one header name (5.9 MB) once took 10 s, merging by appending to a growing
    /// string; they decode in linear time now, merged in the event's order as API Gateway joins them.
    @Test func manyCaseVariantsOfOneHeaderMergeInOrder() async throws {
        let name = Array("abcdefghijklmnop")
        let count = 64_000
        var members: [String] = []
        var values: [String] = []
        for index in 0..<count {
            let variant = String(
                name.enumerated().map { bit, letter in index >> bit & 1 == 1 ? Character(letter.uppercased()) : letter }
            )
            members.append(#""\#(variant)":"v\#(index)""#)
            values.append("v\(index)")
        }
        let event = #"{"httpMethod":"GET","path":"/","headers":{"# + members.joined(separator: ",") + "}}"
        let big = FunctionHarness(functionName: "test", maxEventBytes: 6 * 1024 * 1024)
        let started = ContinuousClock.now
        let out = await big.respond(to: Array(event.utf8)) { request, _ in
            .json(200, ["merged": request.header("ABCDEFGHIJKLMNOP") ?? ""])
        }
        let elapsed = ContinuousClock.now - started
        let response = try JSONDecoder().decode(FunctionResponse.self, from: Data(out))
        #expect(response.statusCode == 200)
        let body = try decodeJSON([String: String].self, from: response.body)
        #expect(body["merged"] == values.joined(separator: ","))
        print("64,000 header variants (\(event.utf8.count) bytes) decoded in \(elapsed)")
    }

    /// Found by the `cookies` fuzz target: `;` (or `&`, `=`) followed by a combining mark is one `Character`, so
    /// splitting on characters let one cookie or parameter swallow the next. Separators are split on bytes.
    @Test func aCombiningMarkAfterASeparatorDoesNotJoinTwoCookiesOrParameters() async throws {
        let event =
            #"{"httpMethod":"GET","path":"/","rawQueryString":"a=1&\u0301b=2","headers":{"cookie":"a=b;\u0CF3c=d"}}"#
        let (response, seen) = try await run(event)
        #expect(response.statusCode == 200)
        #expect(seen.cookies == ["a": "b", "\u{CF3}c": "d"])
        #expect(seen.query == ["a": "1", "\u{301}b": "2"])
        #expect(QueryString.parse("code=x&\u{301}state=y")["code"] == "x")
    }

    @Test func refusesInvalidUTF8() async throws {
        var bytes = Array(#"{"httpMethod":"GET","path":"/"#.utf8)
        bytes += [0xFF, 0xFE, 0x22, 0x7D]
        let out = await harness.respond(to: bytes, handler: echo)
        let response = try JSONDecoder().decode(FunctionResponse.self, from: Data(out))
        #expect(response.statusCode == 400)
    }

    @Test func refusesDeepNesting() async throws {
        let deep =
            #"{"httpMethod":"GET","x":"# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
            + "}"
        let (response, _) = try await refuse(deep)
        #expect(response.statusCode == 400)
    }

    @Test func refusesLargeBodiesAndEvents() async throws {
        let big = String(repeating: "a", count: 2048)
        let (response, body) = try await refuse(#"{"httpMethod":"POST","body":"\#(big)"}"#)
        #expect(response.statusCode == 413)
        #expect(body.error == "invalid_request")
        let tooBig = await harness.response(to: nil, handler: echo)
        #expect(tooBig.statusCode == 413)
    }

    @Test func handlerErrorsBecomeServerErrors() async throws {
        struct Boom: Error {}
        let out = await harness.respond(to: Array(#"{"httpMethod":"GET"}"#.utf8)) { _, _ in throw Boom() }
        let response = try JSONDecoder().decode(FunctionResponse.self, from: Data(out))
        #expect(response.statusCode == 500)
        #expect(response.body.contains("server_error"))
    }

    /// Seeded fuzzing: random bytes and mutated valid events always get exactly one JSON response.
    @Test func fuzzedEventsAlwaysGetAResponse() async throws {
        var generator = SeededGenerator(seed: 0x5EED)
        let valid = Array(
            #"{"version":"2.0","rawPath":"/login","headers":{"a":"b"},"requestContext":{"http":{"method":"POST"}},"body":"{}"}"#
                .utf8
        )
        for round in 0..<400 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            } else {
                bytes = valid
                for _ in 0..<Int.random(in: 1...6, using: &generator) {
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    bytes[index] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            let out = await harness.respond(to: bytes, handler: echo)
            let response = try JSONDecoder().decode(FunctionResponse.self, from: Data(out))
            #expect([200, 400, 413].contains(response.statusCode))
        }
    }
}
