import Foundation
import Logging
import TestSupport
import Testing
import WXAuthPostgres
import WXAuthStore

/// CONTRACT §8 from outside: the metrics line every invocation ends with, and the circuit breaker on WeChat
/// whose state every instance shares through the store.
@Suite struct OperationsTests {
    /// One Embedded Metric Format line: its text and its members (the metrics and the dimensions sit at the top
    /// level, named by the `_aws` metadata).
    struct MetricLine {
        var text: String
        var members: [String: JSONValue]
    }

    /// The `_aws` metadata of an EMF line, as the specification shapes it.
    struct MetricMetadata: Decodable {
        struct Directive: Decodable {
            struct Definition: Decodable {
                var Name: String
                var Unit: String?
            }

            var Namespace: String
            var Dimensions: [[String]]
            var Metrics: [Definition]
        }

        var Timestamp: Int
        var CloudWatchMetrics: [Directive]
    }

    /// The Embedded Metric Format lines of one process's stderr.
    static func metricLines(_ invocation: Invocation) -> [MetricLine] {
        invocation.stderr.split(separator: "\n").compactMap { line in
            (try? decodeJSON([String: JSONValue].self, from: String(line))).map {
                MetricLine(text: String(line), members: $0)
            }
        }.filter { $0.members["_aws"] != nil }
    }

    /// Checks one EMF line against the specification: every metric declared is a number at the top level,
    /// every dimension a string; returns the metrics by name.
    static func checkedMetrics(_ line: MetricLine, function: String) throws -> [String: Double] {
        struct Envelope: Decodable { var _aws: MetricMetadata }
        // `Timestamp` decodes as an integer, or this throws.
        let aws = try decodeJSON(Envelope.self, from: line.text)._aws
        #expect(aws.CloudWatchMetrics.count == 1)
        let directive = try #require(aws.CloudWatchMetrics.first)
        #expect(directive.Namespace == "wxauth")
        #expect(directive.Dimensions == [["function"]])
        #expect(line.members["function"] == .string(function))
        var values: [String: Double] = [:]
        for definition in directive.Metrics {
            let name = definition.Name
            #expect(["Count", "Milliseconds"].contains(definition.Unit ?? ""))
            values[name] = try #require(line.members[name]?.number, "metric \(name) has no numeric value")
        }
        return values
    }

    @Test func everyInvocationEndsWithOneMetricLine() async throws {
        try await withEndToEnd { e2e in
            let signIn = try await e2e.login()
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
            let refreshToken = try signIn.tokens.refresh_token
            #expect(try await e2e.refresh(refreshToken).status == 200)
            let reused = try await e2e.refresh(refreshToken)
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
                answers.append(try await e2e.login())
                if Self.metricLines(answers.last!).contains(where: { ($0.members["CircuitOpen"]?.number ?? 0) > 0 }) {
                    break
                }
            }
            #expect(answers.allSatisfy { $0.status == 503 })
            let callsWhenOpened = try await e2e.calls()
            #expect(callsWhenOpened >= 5)

            // Open: a new instance answers 503 with Retry-After at once, without calling WeChat.
            for _ in 0..<3 {
                let held = try await e2e.login()
                #expect(held.status == 503)
                #expect(try held.refusal.error == "temporarily_unavailable")
                let retryAfter = Int(held.headers["retry-after"] ?? "") ?? 0
                #expect((1...30).contains(retryAfter))
                let metrics = try Self.checkedMetrics(try #require(Self.metricLines(held).first), function: "login")
                #expect(metrics["CircuitOpen"] == 1)
                #expect(metrics["WeChatCalls"] == 0)
            }
            #expect(try await e2e.calls() == callsWhenOpened)

            // 30 s later (moved in the shared store, not slept): one probe calls WeChat, now healthy, and closes it.
            try await e2e.control("DELETE", "/sandbox/faults", nil)
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
            let probe = try await e2e.login()
            #expect(probe.status == 200)
            #expect(try await e2e.calls() == callsWhenOpened + 1)
            #expect(try await store.circuit(name: "wechat") == nil)
            #expect(try await e2e.login().status == 200)
        }
    }
}
