import Foundation
import FunctionRuntime
import Synchronization
import TestSupport
import Testing

/// A Runtime API played in memory.
final class FakeRuntimeAPI: RuntimeAPI {
    let queue: Mutex<[RuntimeInvocation]>
    let posted = Mutex<[(String, String)]>([])

    init(_ invocations: [RuntimeInvocation]) { queue = Mutex(invocations) }

    var requestIdLogKey: String { "fake_request_id" }

    func ready() async throws {
        posted.withLock { $0.append(("ready", "")) }
    }

    func encode(_ response: FunctionResponse) -> [UInt8] {
        FunctionHarness.encode(response)
    }

    func next() async throws -> RuntimeInvocation {
        guard let next = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else {
            throw CancellationError()
        }
        return next
    }

    func respond(requestId: String, body: [UInt8]) async throws {
        posted.withLock { $0.append((requestId, String(decoding: body, as: UTF8.self))) }
    }

    func fail(requestId: String, errorType: String, errorMessage: String) async throws {
        posted.withLock { $0.append((requestId, "error:\(errorType)")) }
    }

    func failInitialization(errorType: String, errorMessage: String) async throws {
        posted.withLock { $0.append(("init", errorMessage)) }
    }
}

@Suite struct RuntimeLoopTests {
    @Test func servesEveryInvocationWithItsDeadline() async throws {
        let soon = Int64(Date().addingTimeInterval(2).timeIntervalSince1970 * 1000)
        let api = FakeRuntimeAPI([
            RuntimeInvocation(
                requestId: "a",
                deadlineEpochMilliseconds: soon,
                traceId: "Root=1",
                event: Array(#"{"httpMethod":"GET"}"#.utf8)
            ),
            RuntimeInvocation(
                requestId: "b",
                deadlineEpochMilliseconds: nil,
                traceId: nil,
                event: Array("garbage".utf8)
            ),
        ])
        let seen = Mutex<[Duration]>([])
        let loop = RuntimeLoop(harness: FunctionHarness(functionName: "t", timeout: .seconds(60)), api: api)
        await loop.run(handler: { _, context in
            seen.withLock { $0.append(context.deadline - .now) }
            return FunctionResponse(statusCode: 204)
        })
        let posted = api.posted.withLock { $0 }
        #expect(posted.map(\.0) == ["a", "b"])
        #expect(posted[0].1.contains(#""statusCode":204"#))
        #expect(posted[1].1.contains(#""statusCode":400"#))
        let remaining = try #require(seen.withLock { $0.first })
        #expect(remaining < .seconds(2) && remaining > .seconds(1))
        #expect(ProcessInfo.processInfo.environment["_X_AMZN_TRACE_ID"] == "Root=1")
    }

    @Test func reportsInitialisationFailures() async throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "WXAUTH_JWT_SECRET is not set" } }
        let api = FakeRuntimeAPI([])
        await RuntimeLoop(harness: FunctionHarness(functionName: "t"), api: api).reportInitializationFailure(Broken())
        #expect(api.posted.withLock { $0.first?.1 } == "WXAUTH_JWT_SECRET is not set")
    }

    @Test func startWarmsUpThenReportsReadyThenServes() async throws {
        let api = FakeRuntimeAPI([
            RuntimeInvocation(
                requestId: "a",
                deadlineEpochMilliseconds: nil,
                traceId: nil,
                event: Array(#"{"httpMethod":"GET"}"#.utf8)
            )
        ])
        let warmed = Mutex(false)
        let function = FunctionDefinition(
            handler: { _, _ in FunctionResponse(statusCode: warmed.withLock { $0 } ? 200 : 500) },
            warmUp: { _ in warmed.withLock { $0 = true } }
        )
        await RuntimeLoop(harness: FunctionHarness(functionName: "t"), api: api).start(function)
        let posted = api.posted.withLock { $0 }
        #expect(posted.map(\.0) == ["ready", "a"])
        #expect(posted.last?.1.contains(#""statusCode":200"#) == true)
    }

    @Test func aFailedWarmUpIsReportedAndNeverReady() async throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "WXAUTH_JWT_SECRET is not set" } }
        let api = FakeRuntimeAPI([])
        let function = FunctionDefinition(
            handler: { _, _ in FunctionResponse(statusCode: 200) },
            warmUp: { _ in throw Broken() }
        )
        await RuntimeLoop(harness: FunctionHarness(functionName: "t"), api: api).start(function)
        #expect(api.posted.withLock { $0.map(\.0) } == ["init"])
    }

    @Test func chosenFromTheEnvironment() {
        #expect(RuntimeLoop.api(environment: [:]) == nil)
        #expect(RuntimeLoop.api(environment: ["AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"]) is HTTPRuntimeAPI)
        #expect(RuntimeLoop.api(environment: ["SCF_RUNTIME_API": "127.0.0.1"]) == nil)
        let scf = RuntimeLoop.api(environment: ["SCF_RUNTIME_API": "127.0.0.1", "SCF_RUNTIME_API_PORT": "9001"])
        #expect((scf as? SCFRuntimeAPI)?.port == "9001")
    }

    /// SCF's integrated response (WECHAT.md C6), with the multi-value headers that carry several cookies.
    struct SCFIntegratedResponse: Decodable {
        var isBase64Encoded: Bool
        var statusCode: Int
        var headers: [String: String]
        var body: String
        var multiValueHeaders: [String: [String]]?
    }

    @Test func scfGetsItsIntegratedResponse() throws {
        let api = SCFRuntimeAPI(host: "127.0.0.1", port: "9001")
        let one = FunctionResponse(statusCode: 302, headers: ["location": "/"], cookies: ["a=1; Path=/"])
        #expect(
            try decodeJSON(JSONObjectKeys.self, from: api.encode(one)).keys == [
                "isBase64Encoded", "statusCode", "headers", "body",
            ]
        )
        let object = try decodeJSON(SCFIntegratedResponse.self, from: api.encode(one))
        #expect(object.statusCode == 302)
        #expect(object.headers == ["location": "/", "set-cookie": "a=1; Path=/"])
        let two = FunctionResponse(statusCode: 200, cookies: ["a=1", "b=2"])
        let both = try decodeJSON(SCFIntegratedResponse.self, from: api.encode(two))
        #expect(both.multiValueHeaders == ["set-cookie": ["a=1", "b=2"]])
        #expect(both.headers["set-cookie"] == "a=1")
    }
}
