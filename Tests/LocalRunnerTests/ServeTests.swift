import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import TestSupport
import Testing

@testable import LocalRunner

/// `serve` in-process on port 0, in front of small shell scripts standing in for the functions.
@Suite("Serve")
struct ServeTests {
    /// Log lines the server wrote.
    final class Log: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    /// Answers with the event it read, base64-encoded, plus two cookies and a custom header.
    static let echo = #"""
        event=$(cat)
        echo "hello from echo" >&2
        echo "second line" >&2
        encoded=$(printf %s "$event" | base64 | tr -d '\n')
        printf '{"statusCode":201,"headers":{"content-type":"application/json","x-fn":"echo"},'
        printf '"cookies":["a=1; Path=/","b=2; HttpOnly"],"body":"%s","isBase64Encoded":true}' "$encoded"
        """#

    static let scripts: [String: String] = [
        "echo": echo,
        "binary": #"""
        cat >/dev/null
        printf '{"statusCode":200,"headers":{"content-type":"image/png"},"body":"AAEC/w==","isBase64Encoded":true}'
        """#,
        "nostatus": #"cat >/dev/null; echo '{"hello":"world"}'"#,
        "array": #"cat >/dev/null; echo '[1,2]'"#,
        "slow": #"cat >/dev/null; echo "going to sleep" >&2; sleep 30 & wait"#,
        "crash": #"cat >/dev/null; echo "about to crash" >&2; kill -SEGV $$"#,
        "exit3": #"cat >/dev/null; echo '{"statusCode":200}'; exit 3"#,
        "garbage": #"cat >/dev/null; echo 'not json at all'"#,
        "gate": #"cat >/dev/null; read line < "$GATE"; echo '{"statusCode":200,"body":"released"}'"#,
    ]

    static func functions(gate: String) -> [FunctionSpec] {
        [
            FunctionSpec(name: "echo", handler: "echo", route: "/echo", methods: ["GET", "POST"]),
            FunctionSpec(name: "binary", handler: "binary", route: "/binary", methods: ["GET"]),
            FunctionSpec(name: "nostatus", handler: "nostatus", route: "/nostatus", methods: ["ANY"]),
            FunctionSpec(name: "array", handler: "array", route: "/array", methods: ["GET"]),
            FunctionSpec(name: "slow", handler: "slow", route: "/slow", methods: ["GET"], timeout: 1),
            FunctionSpec(name: "crash", handler: "crash", route: "/crash", methods: ["GET"]),
            FunctionSpec(name: "exit3", handler: "exit3", route: "/exit3", methods: ["GET"]),
            FunctionSpec(name: "garbage", handler: "garbage", route: "/garbage", methods: ["GET"]),
            FunctionSpec(
                name: "gate",
                handler: "gate",
                route: "/gate",
                methods: ["GET"],
                concurrency: 1,
                environment: ["GATE": gate]
            ),
            FunctionSpec(name: "missing", handler: "not-there", route: "/missing", methods: ["GET"]),
        ]
    }

    struct Answer {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
        }
        func decoded<Body: Decodable>(_ type: Body.Type = Body.self) throws -> Body { try decodeJSON(from: body) }
        /// The `error` code of an error answer (nil when the body is not one).
        var error: String? { (try? decoded(Refusal.self))?.error }
    }

    /// Starts a server over the scripts, runs `body`, stops the server.
    func withServer(
        _ body: (FunctionServer, _ bin: InvocationTests.BinDirectory, Log) async throws -> Void
    ) async throws {
        let bin = try InvocationTests.BinDirectory(Self.scripts)
        let gate = bin.file("gate.fifo").path
        #expect(mkfifo(gate, 0o600) == 0)
        let log = Log()
        let server = try await FunctionServer.start(
            manifest: Manifest(functions: Self.functions(gate: gate)),
            binDirectory: bin.url,
            runnerEnvironment: ["PATH": "/usr/bin:/bin"],
            port: 0,
            log: { log.append($0) }
        )
        try await server.stopping { try await body(server, bin, log) }
    }

    func send(
        _ server: FunctionServer,
        _ method: HTTPMethod,
        _ path: String,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: server.baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 10 * 1024 * 1024)
        return Answer(
            status: Int(response.status.code),
            headers: response.headers.map { ($0.name, $0.value) },
            body: Array(buffer: bytes)
        )
    }

    // MARK: Routing

    @Test func unknownPathIs404AndWrongMethodIs405() async throws {
        try await withServer { server, _, log in
            let missing = try await send(server, .GET, "/nowhere")
            #expect(missing.status == 404)
            #expect(missing.error == "not_found")
            #expect(missing.header("content-type") == ["application/json"])

            let wrong = try await send(server, .PUT, "/echo")
            #expect(wrong.status == 405)
            #expect(wrong.error == "method_not_allowed")
            #expect(wrong.header("allow") == ["GET, POST"])

            let any = try await send(server, .DELETE, "/nostatus")
            #expect(any.status == 200, "ANY accepts every method")

            #expect(log.all.contains { $0.wholeMatch(of: /GET \/nowhere 404 \d+\.\dms maxRSS=0MB function=-/) != nil })
            #expect(log.all.contains { $0.hasPrefix("PUT /echo 405 ") })
        }
    }

    // MARK: Event and response

    @Test func requestBecomesAV2EventAndTheResponseComesBack() async throws {
        try await withServer { server, _, log in
            let answer = try await send(
                server,
                .POST,
                "/echo?x=1&y=a%20b",
                headers: [
                    ("Content-Type", "application/json"), ("X-Custom", "one"), ("X-Custom", "two"),
                    ("Cookie", "c1=v1; c2=v2"), ("User-Agent", "wxauth-tests"),
                ],
                body: Array(#"{"k":"v"}"#.utf8)
            )
            #expect(answer.status == 201)
            #expect(answer.header("x-fn") == ["echo"])
            #expect(answer.header("content-type") == ["application/json"])
            #expect(answer.header("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"])

            // The body is the event the function saw.
            let event = try answer.decoded(PayloadV2Event.self)
            #expect(event.version == "2.0")
            #expect(event.rawPath == "/echo")
            #expect(event.rawQueryString == "x=1&y=a%20b")
            #expect(event.queryStringParameters == ["x": "1", "y": "a b"])
            #expect(event.cookies == ["c1=v1", "c2=v2"])
            let headers = try #require(event.headers)
            #expect(headers["x-custom"] == "one,two")
            #expect(headers["content-type"] == "application/json")
            #expect(headers["cookie"] == nil)
            #expect(headers.keys.allSatisfy { $0 == $0.lowercased() })
            #expect(event.body == #"{"k":"v"}"#)
            #expect(event.isBase64Encoded == false)
            let http = event.requestContext.http
            #expect(http.method == "POST")
            #expect(http.path == "/echo")
            #expect(http.sourceIp == "127.0.0.1")
            #expect(http.userAgent == "wxauth-tests")
            let requestID = event.requestContext.requestId
            #expect(UUID(uuidString: requestID) != nil)

            let again = try await send(server, .GET, "/echo")
            let secondID = try again.decoded(PayloadV2Event.self).requestContext.requestId
            #expect(secondID != requestID, "each request gets a fresh requestId")

            let lines = log.all
            #expect(lines.contains("[echo] hello from echo"))
            #expect(lines.contains("[echo] second line"))
            #expect(
                lines.contains { $0.wholeMatch(of: /POST \/echo 201 \d+\.\dms maxRSS=[1-9]\d*MB function=echo/) != nil }
            )
        }
    }

    @Test func binaryBodiesAreBase64BothWays() async throws {
        try await withServer { server, _, _ in
            /// The event `/echo` saw for `body` of `contentType`.
            func echoed(_ contentType: String, _ body: [UInt8]) async throws -> PayloadV2Event {
                try await send(server, .POST, "/echo", headers: [("Content-Type", contentType)], body: body).decoded()
            }
            let event = try await echoed("application/octet-stream", [0x00, 0xFF, 0x01])
            #expect(event.body == "AP8B")
            #expect(event.isBase64Encoded == true)

            // Text content type but not UTF-8: base64 as well.
            let notUTF8 = try await echoed("text/plain", [0xC3, 0x28])
            #expect(notUTF8.isBase64Encoded == true)
            #expect(notUTF8.body == "wyg=")

            let image = try await send(server, .GET, "/binary")
            #expect(image.status == 200)
            #expect(image.header("content-type") == ["image/png"])
            #expect(image.body == [0x00, 0x01, 0x02, 0xFF])
        }
    }

    @Test func jsonWithoutStatusCodeIsA200Body() async throws {
        try await withServer { server, _, _ in
            let object = try await send(server, .GET, "/nostatus")
            #expect(object.status == 200)
            #expect(object.header("content-type") == ["application/json"])
            #expect(object.text == #"{"hello":"world"}"#)

            let array = try await send(server, .GET, "/array")
            #expect(array.status == 200)
            #expect(array.text == "[1,2]")
        }
    }

    // MARK: Platform behaviour

    @Test func timeoutKillsTheProcessAndAnswers504() async throws {
        try await withServer { server, _, log in
            let start = ContinuousClock.now
            let answer = try await send(server, .GET, "/slow")
            #expect(answer.status == 504)
            #expect(answer.error == "gateway_timeout")
            #expect(ContinuousClock.now - start < .seconds(5), "the background sleep (same group) was killed too")
            #expect(log.all.contains("[slow] going to sleep"))
            #expect(log.all.contains { $0.contains("timed out after 1 s") })
        }
    }

    @Test func crashNonZeroExitAndBadStdoutAnswer502() async throws {
        try await withServer { server, _, log in
            for path in ["/crash", "/exit3", "/garbage", "/missing"] {
                let answer = try await send(server, .GET, path)
                #expect(answer.status == 502, "\(path)")
                #expect(answer.error == "bad_gateway", "\(path)")
            }
            let lines = log.all
            #expect(lines.contains("[crash] about to crash"), "the function's stderr is in the log")
            #expect(lines.contains { $0.hasPrefix("[crash] local-runner: crashed") })
            #expect(lines.contains { $0.hasPrefix("[exit3] local-runner: crashed") && $0.contains("exit status 3") })
            #expect(
                lines.contains {
                    $0.hasPrefix("[garbage] local-runner: invalid response") && $0.contains("not json at all")
                }
            )
            #expect(lines.contains { $0.hasPrefix("[missing] local-runner: cannot run") })
            #expect(lines.contains { $0.hasPrefix("GET /crash 502 ") && $0.hasSuffix("function=crash") })
        }
    }

    @Test func concurrencyLimitAnswers429() async throws {
        try await withServer { server, bin, _ in
            let first = Task { try await send(server, .GET, "/gate") }
            // The slot is taken before the process starts; wait until the first request holds it.
            for _ in 0..<1000 where server.gateway.running("gate") < 1 {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(server.gateway.running("gate") == 1)

            let refused = try await send(server, .GET, "/gate")
            #expect(refused.status == 429)
            #expect(refused.header("retry-after") == ["1"])
            #expect(refused.error == "too_many_requests")

            // Open the gate: the blocked function reads one line from the FIFO and answers.
            let gate = bin.file("gate.fifo").path
            await Task.detached {
                let fd = open(gate, O_WRONLY)
                #expect(fd >= 0)
                _ = write(fd, "go\n", 3)
                close(fd)
            }.value
            let released = try await first.value
            #expect(released.status == 200)
            #expect(released.text == "released")
            #expect(server.gateway.running("gate") == 0)
        }
    }
}

@Suite("HTTPEvent from a request")
struct HTTPEventRequestTests {
    @Test func textualContentTypes() {
        for type in [
            nil, "application/json", "application/json; charset=utf-8", "text/html",
            "application/x-www-form-urlencoded",
            "application/xml", "application/problem+json", "image/svg+xml",
        ] {
            #expect(HTTPEvent.isTextual(contentType: type), "\(type ?? "nil")")
        }
        for type in ["application/octet-stream", "image/png", "multipart/form-data; boundary=x", "application/pdf"] {
            #expect(!HTTPEvent.isTextual(contentType: type), "\(type)")
        }
    }

    @Test func repeatedCookieHeadersJoinIntoOneList() throws {
        let event = HTTPEvent(
            method: "GET",
            path: "/p",
            rawQueryString: "",
            headerFields: [(name: "Cookie", value: "a=1"), (name: "cookie", value: "b=2; c=3")],
            body: [],
            sourceIP: "10.0.0.1",
            requestID: "r"
        )
        let encoded = try decodeJSON(PayloadV2Event.self, from: event.encoded())
        #expect(encoded.cookies == ["a=1", "b=2", "c=3"])
        #expect(try !decodeJSON(JSONObjectKeys.self, from: event.encoded()).keys.contains("body"))
        #expect(encoded.requestContext.http.sourceIp == "10.0.0.1")
    }
}
