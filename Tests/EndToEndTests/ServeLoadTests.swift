import AsyncHTTPClient
import Foundation
import LocalRunner
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// `serve` in front of the real function executables under many concurrent sign-ins, in both modes:
/// nothing dropped, every answer a platform's (200, or 429 beyond the concurrency limit), and every
/// successful sign-in a distinct, usable session.
@Suite(.serialized) struct ServeLoadTests {
    static let requests = 40

    func start(_ e2e: EndToEnd, warm: Bool, concurrency: Int) async throws -> FunctionServer {
        let functions = Manifest.builtIn.functions.map { spec in
            var spec = spec
            spec.concurrency = concurrency
            // The whole suite runs beside this on two cores: room for a slow moment, never a reason to answer 504.
            spec.timeout = 30
            spec.environment = e2e.environment.filter { $0.key != "PATH" }
            return spec
        }
        return try await FunctionServer.start(
            manifest: Manifest(functions: functions),
            binDirectory: e2e.binDirectory,
            runnerEnvironment: ["PATH": "/usr/bin:/bin"],
            port: 0,
            warm: warm,
            log: { _ in }
        )
    }

    /// The status, and the signed-in user's id when there is one.
    func post(_ url: String, _ body: String) async throws -> (status: Int, userID: String?) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let signedIn = try? decodeJSON(TokenAnswer.self, from: Array(bytes.readableBytesView))
        return (Int(response.status.code), signedIn?.user.id)
    }

    @Test(arguments: [false, true])
    func manyConcurrentSignInsAreAllAnswered(warm: Bool) async throws {
        try await withEndToEnd { e2e in
            var codes: [String] = []
            for index in 0..<Self.requests { codes.append(try await e2e.mintCode(user: "load\(index)")) }
            let server = try await start(e2e, warm: warm, concurrency: 8)
            let answers = try await withThrowingTaskGroup(of: (code: String, status: Int, userID: String?).self) {
                group in
                for code in codes {
                    group.addTask {
                        let answer = try await post(server.baseURL + "/login", #"{"code":"\#(code)"}"#)
                        return (code, answer.status, answer.userID)
                    }
                }
                return try await group.reduce(into: [(code: String, status: Int, userID: String?)]()) { $0.append($1) }
            }
            #expect(answers.count == Self.requests, "every request got an answer")
            let statuses = answers.map(\.status)
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 429 }, "\(statuses)")
            #expect(statuses.contains(200))
            let signedIn = answers.filter { $0.status == 200 }.compactMap(\.userID)
            #expect(signedIn.count == statuses.filter { $0 == 200 }.count)
            #expect(Set(signedIn).count == signedIn.count, "one user per person, none mixed up")

            // A request refused with 429 never reached the function, so its code is still good: retried, it signs in.
            for refused in answers where refused.status == 429 {
                let retried = try await post(server.baseURL + "/login", #"{"code":"\#(refused.code)"}"#)
                #expect(retried.status == 200)
            }
            #expect(try await e2e.calls() == Self.requests, "each code exchanged exactly once")
            await server.stop()
        }
    }

    @Test func aLimitAboveTheLoadAnswersEveryRequest() async throws {
        try await withEndToEnd { e2e in
            var codes: [String] = []
            for index in 0..<Self.requests { codes.append(try await e2e.mintCode(user: "all\(index)")) }
            let server = try await start(e2e, warm: false, concurrency: Self.requests)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for code in codes {
                    group.addTask { try await post(server.baseURL + "/login", #"{"code":"\#(code)"}"#).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.count == Self.requests)
            #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
            #expect(try await e2e.calls() == Self.requests, "each code exchanged exactly once")
            await server.stop()
        }
    }
}
