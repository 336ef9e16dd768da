import Foundation
import FunctionRuntime
import Synchronization
import Testing

/// A Runtime API played in memory.
final class FakeRuntimeAPI: RuntimeAPI {
    let queue: Mutex<[RuntimeInvocation]>
    let posted = Mutex<[(String, String)]>([])

    init(_ invocations: [RuntimeInvocation]) { queue = Mutex(invocations) }

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

@Suite struct LambdaRuntimeLoopTests {
    @Test func servesEveryInvocationWithItsDeadline() async throws {
        let soon = Int64(Date().addingTimeInterval(2).timeIntervalSince1970 * 1000)
        let api = FakeRuntimeAPI([
            RuntimeInvocation(requestId: "a", deadlineEpochMilliseconds: soon, traceId: "Root=1", event: Array(#"{"httpMethod":"GET"}"#.utf8)),
            RuntimeInvocation(requestId: "b", deadlineEpochMilliseconds: nil, traceId: nil, event: Array("garbage".utf8)),
        ])
        let seen = Mutex<[Duration]>([])
        let loop = LambdaRuntimeLoop(harness: FunctionHarness(functionName: "t", timeout: .seconds(60)), api: api)
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
        await LambdaRuntimeLoop(harness: FunctionHarness(functionName: "t"), api: api).reportInitializationFailure(Broken())
        #expect(api.posted.withLock { $0.first?.1 } == "WXAUTH_JWT_SECRET is not set")
    }
}
