import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

@testable import LocalRunner

/// `serve --warm` in front of a small Python program that speaks the Lambda runtime API, as the function
/// executables' runtime loop does, and misbehaves on request.
@Suite("Serve --warm")
struct WarmServeTests {
    /// A Lambda custom runtime in Python (its standard library only): answers each event with its pid and
    /// how many events it has seen; `MODE` (from the request's path) makes it fail in the ways a platform sees.
    static let runtime = #"""
        exec python3 - <<'PYTHON'
        import json, os, sys, time, urllib.request
        base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
        def post(path, body, headers={}):
            request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST", headers=headers)
            urllib.request.urlopen(request).read()
        if os.environ.get("MODE") == "initerror":
            post("/init/error", {"errorType": "Runtime.Config", "errorMessage": "SETTING is not set"})
            sys.exit(1)
        seen = 0
        while True:
            with urllib.request.urlopen(base + "/invocation/next") as reply:
                request_id = reply.headers["Lambda-Runtime-Aws-Request-Id"]
                deadline = int(reply.headers["Lambda-Runtime-Deadline-Ms"])
                event = json.loads(reply.read())
            seen += 1
            print("invocation %d" % seen, file=sys.stderr, flush=True)
            path = event["rawPath"]
            if path == "/crash" and seen > 1:
                os.kill(os.getpid(), 11)
            if path == "/slow":
                time.sleep(30)
            if path == "/error":
                post("/invocation/%s/error" % request_id, {"errorType": "Handled", "errorMessage": "no"},
                     {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
                continue
            body = {"pid": os.getpid(), "seen": seen, "deadline_in_future": deadline > time.time() * 1000}
            post("/invocation/%s/response" % request_id, {"statusCode": 200, "body": json.dumps(body),
                 "cookies": ["a=1", "b=2"]})
        PYTHON
        """#

    func withServer(
        _ body: (FunctionServer, ServeTests.Log) async throws -> Void
    ) async throws {
        let bin = try InvocationTests.BinDirectory(["runtime": Self.runtime])
        let log = ServeTests.Log()
        let functions = [
            FunctionSpec(name: "ok", handler: "runtime", route: "/ok", methods: ["GET"], concurrency: 4),
            FunctionSpec(name: "crash", handler: "runtime", route: "/crash", methods: ["GET"]),
            FunctionSpec(name: "slow", handler: "runtime", route: "/slow", methods: ["GET"], timeout: 1),
            FunctionSpec(name: "error", handler: "runtime", route: "/error", methods: ["GET"]),
            FunctionSpec(
                name: "initerror",
                handler: "runtime",
                route: "/initerror",
                methods: ["GET"],
                environment: ["MODE": "initerror"]
            ),
        ]
        let server = try await FunctionServer.start(
            manifest: Manifest(functions: functions),
            binDirectory: bin.url,
            runnerEnvironment: ["PATH": "/usr/bin:/bin:/usr/local/bin"],
            port: 0,
            warm: true,
            log: { log.append($0) }
        )
        try await server.stopping { try await body(server, log) }
    }

    /// What the Python runtime answers (its body), or the runner's error: every field optional, so one type reads
    /// both; empty when the body is not JSON.
    struct Reply: Decodable {
        var seen: Int?
        var deadlineInFuture: Bool?
        var pid: Int?
        var error: String?

        enum CodingKeys: String, CodingKey {
            case seen, pid, error
            case deadlineInFuture = "deadline_in_future"
        }
    }

    func get(
        _ server: FunctionServer,
        _ path: String
    ) async throws -> (status: Int, reply: Reply, cookies: [String]) {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: server.baseURL + path),
            timeout: .seconds(30)
        )
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let reply = (try? decodeJSON(Reply.self, from: Array(bytes.readableBytesView))) ?? Reply()
        return (Int(response.status.code), reply, response.headers["set-cookie"])
    }

    @Test func oneProcessServesSuccessiveRequests() async throws {
        try await withServer { server, log in
            var pids: Set<Int> = []
            for expected in 1...3 {
                let answer = try await get(server, "/ok")
                #expect(answer.status == 200)
                #expect(answer.reply.seen == expected)
                #expect(answer.reply.deadlineInFuture == true)
                #expect(answer.cookies == ["a=1", "b=2"])
                pids.insert(answer.reply.pid ?? -1)
            }
            #expect(pids.count == 1, "one warm process answered every request")
            #expect(log.all.filter { $0 == "[ok] local-runner: started a warm instance" }.count == 1)
            #expect(log.all.contains("[ok] invocation 3"), "the function's stderr is passed through")
        }
    }

    @Test func concurrentRequestsGetMoreInstancesUpToTheLimit() async throws {
        try await withServer { server, log in
            let answers = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for _ in 0..<12 {
                    group.addTask {
                        let answer = try await get(server, "/ok")
                        return (answer.status, answer.reply.pid ?? -1)
                    }
                }
                return try await group.reduce(into: [(Int, Int)]()) { $0.append($1) }
            }
            #expect(answers.count == 12, "nothing dropped")
            #expect(answers.allSatisfy { $0.0 == 200 || $0.0 == 429 })
            let served = answers.filter { $0.0 == 200 }
            #expect(!served.isEmpty)
            #expect(Set(served.map(\.1)).count <= 4, "at most `concurrency` warm instances")
            let started = log.all.filter { $0 == "[ok] local-runner: started a warm instance" }.count
            #expect((1...4).contains(started))
        }
    }

    @Test func timeoutStopsTheInstanceAndTheNextRequestGetsAFreshOne() async throws {
        try await withServer { server, log in
            let first = try await get(server, "/slow")
            #expect(first.status == 504)
            #expect(first.reply.error == "gateway_timeout")
            #expect(log.all.contains { $0.contains("[slow] local-runner: timed out after 1 s") })
        }
    }

    @Test func crashAnswers502AndIsReplaced() async throws {
        try await withServer { server, log in
            let first = try await get(server, "/crash")
            #expect(first.status == 200)
            let crashed = try await get(server, "/crash")
            #expect(crashed.status == 502)
            #expect(crashed.reply.error == "bad_gateway")
            #expect(log.all.contains { $0.contains("[crash] local-runner: warm instance crashed") })
            let again = try await get(server, "/crash")
            #expect(again.status == 200)
            #expect(again.reply.seen == 1, "a new instance")
            #expect(again.reply.pid != first.reply.pid)
        }
    }

    @Test func reportedErrorsAndInitErrorsAnswer502() async throws {
        try await withServer { server, log in
            let failed = try await get(server, "/error")
            #expect(failed.status == 502)
            #expect(
                log.all.contains { $0.contains("[error] local-runner: the function reported an error (Unhandled)") }
            )
            let initFailed = try await get(server, "/initerror")
            #expect(initFailed.status == 502)
            #expect(
                log.all.contains {
                    $0.contains("[initerror] local-runner: init error: ") && $0.contains("SETTING is not set")
                }
            )
        }
    }
}
