import Foundation
import Logging
import Testing
import WXAuthPostgres
import WXAuthStore

/// CONTRACT §8 from outside: the metrics line every invocation ends with, and the circuit breaker on WeChat
/// whose state every instance shares through the store.
@Suite struct OperationsTests {
    /// The Embedded Metric Format objects of one process's stderr.
    static func metricLines(_ invocation: Invocation) -> [[String: Any]] {
        invocation.stderr.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }.filter { $0["_aws"] != nil }
    }

    /// Checks one EMF object against the specification: every metric declared is a number at the top level,
    /// every dimension a string; returns the metrics by name.
    static func checkedMetrics(_ object: [String: Any], function: String) throws -> [String: Double] {
        let aws = try #require(object["_aws"] as? [String: Any])
        #expect(aws["Timestamp"] is Int)
        let directives = try #require(aws["CloudWatchMetrics"] as? [[String: Any]])
        #expect(directives.count == 1)
        let directive = try #require(directives.first)
        #expect(directive["Namespace"] as? String == "wxauth")
        #expect(directive["Dimensions"] as? [[String]] == [["function"]])
        #expect(object["function"] as? String == function)
        let definitions = try #require(directive["Metrics"] as? [[String: String]])
        var values: [String: Double] = [:]
        for definition in definitions {
            let name = try #require(definition["Name"])
            #expect(["Count", "Milliseconds"].contains(definition["Unit"] ?? ""))
            values[name] = try #require(object[name] as? Double, "metric \(name) has no numeric value")
        }
        return values
    }

    @Test func everyInvocationEndsWithOneMetricLine() async throws {
        try await withEndToEnd { e2e in
            let code = try await e2e.mintCode()
            let signIn = try await e2e.invoke("login", method: "POST", path: "/login", body: #"{"code":"\#(code)"}"#)
            #expect(signIn.status == 200)
            let lines = Self.metricLines(signIn)
            #expect(lines.count == 1)
            let metrics = try Self.checkedMetrics(try #require(lines.first), function: "login")
            #expect(metrics["WeChatCalls"] == 1)
            #expect(metrics["WeChatErrors"] == 0)
            #expect(metrics["SignIns"] == 1)
            #expect((metrics["Duration"] ?? 0) > 0)
            #expect(metrics["WeChatLatency"] != nil)

            // A refused event still ends with its metrics; a function that never calls WeChat reports zero calls.
            let refused = try await e2e.invoke("userinfo", stdin: Array("not json".utf8))
            #expect(refused.status == 400)
            let userinfo = try Self.checkedMetrics(try #require(Self.metricLines(refused).first), function: "userinfo")
            #expect(userinfo["Duration"] != nil)

            // Presenting a spent refresh token is reuse: counted.
            let refreshToken = try #require(signIn.body["refresh_token"] as? String)
            let body = #"{"refresh_token":"\#(refreshToken)"}"#
            #expect(try await e2e.invoke("refresh", method: "POST", path: "/refresh", body: body).status == 200)
            let reused = try await e2e.invoke("refresh", method: "POST", path: "/refresh", body: body)
            #expect(reused.status == 400)
            let reuse = try Self.checkedMetrics(try #require(Self.metricLines(reused).first), function: "refresh")
            #expect(reuse["RefreshReuseDetected"] == 1)
            #expect(reuse["WeChatCalls"] == 0)
        }
    }

    @Test(arguments: E2EDatabase.available) func aFailingWeChatOpensTheCircuitForEveryInstanceThenOneProbeClosesIt(
        database: E2EDatabase
    ) async throws {
        try await withEndToEnd(database: database) { e2e in
            try await e2e.injectFault(#"{"endpoint":"/sns/jscode2session","errcode":-1,"times":1000}"#)
            // Separate processes in a row, as cold instances: each failed attempt (busy is retried) is counted in the store.
            var answers: [Invocation] = []
            for _ in 0..<5 {
                let code = try await e2e.mintCode()
                answers.append(
                    try await e2e.invoke("login", method: "POST", path: "/login", body: #"{"code":"\#(code)"}"#)
                )
                if Self.metricLines(answers.last!).contains(where: { ($0["CircuitOpen"] as? Double ?? 0) > 0 }) {
                    break
                }
            }
            #expect(answers.allSatisfy { $0.status == 503 })
            let callsWhenOpened = try await e2e.calls()
            #expect(callsWhenOpened >= 5)

            // Open: a new instance answers 503 with Retry-After at once, without calling WeChat.
            for _ in 0..<3 {
                let code = try await e2e.mintCode()
                let held = try await e2e.invoke("login", method: "POST", path: "/login", body: #"{"code":"\#(code)"}"#)
                #expect(held.status == 503)
                #expect(held.body["error"] as? String == "temporarily_unavailable")
                let retryAfter = Int(held.headers["retry-after"] ?? "") ?? 0
                #expect((1...30).contains(retryAfter))
                let metrics = try Self.checkedMetrics(try #require(Self.metricLines(held).first), function: "login")
                #expect(metrics["CircuitOpen"] == 1)
                #expect(metrics["WeChatCalls"] == 0)
            }
            #expect(try await e2e.calls() == callsWhenOpened)

            // 30 s later (moved in the shared store, not slept): one probe calls WeChat, now healthy, and closes it.
            _ = try await e2e.control("DELETE", "/sandbox/faults", nil)
            let store = try DatabaseURL(e2e.databaseURL)!.openStore(
                functionTimeout: .seconds(5),
                logger: Logger(label: "test")
            )
            _ = try await store.updateCircuit(name: "wechat") { state in
                state.map {
                    var past = $0
                    past.openUntil = 1
                    return past
                }
            }
            let code = try await e2e.mintCode()
            let probe = try await e2e.invoke("login", method: "POST", path: "/login", body: #"{"code":"\#(code)"}"#)
            #expect(probe.status == 200)
            #expect(try await e2e.calls() == callsWhenOpened + 1)
            #expect(try await store.circuit(name: "wechat") == nil)
            let next = try await e2e.mintCode()
            #expect(
                try await e2e.invoke("login", method: "POST", path: "/login", body: #"{"code":"\#(next)"}"#).status
                    == 200
            )
        }
    }
}
