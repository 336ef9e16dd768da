import Logging
import Testing

@testable import FunctionRuntime

@Suite struct LoggingAndQueryTests {
    @Test func quotesJSONStrings() {
        #expect(JSONText.quote("a\"b\\c\nd\u{01}") == #""a\"b\\c\nd\u0001""#)
    }

    @Test func parsesAndEncodesQueries() {
        #expect(QueryString.parse("a=1&b=x+y&c=%E5%BE%AE&a=2&d") == ["a": "1", "b": "x y", "c": "微", "d": ""])
        #expect(QueryString.percentEncode("a b/微") == "a%20b%2F%E5%BE%AE")
        #expect(QueryString.percentDecode("%zz%4") == "%zz%4")
    }

    @Test func readsBearerTokens() {
        #expect(
            FunctionRequest(method: "get", path: "/", headers: ["Authorization": "Bearer abc"]).bearerToken == "abc"
        )
        #expect(
            FunctionRequest(method: "get", path: "/", headers: ["authorization": "bearer  abc "]).bearerToken == "abc"
        )
        #expect(FunctionRequest(method: "get", path: "/", headers: ["authorization": "Basic abc"]).bearerToken == nil)
        #expect(FunctionRequest(method: "get", path: "/", headers: ["authorization": "Bearer"]).bearerToken == nil)
    }
}

@Suite struct StructuredLogTests {
    @Test func formatsRFC3339TimestampsInUTCWithMilliseconds() {
        #expect(WallClock.rfc3339(0) == "1970-01-01T00:00:00.000Z")
        #expect(WallClock.rfc3339(1_796_579_401_123) == "2026-12-06T17:50:01.123Z")
        #expect(WallClock.rfc3339(951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(WallClock.rfc3339(-1) == "1969-12-31T23:59:59.999Z")
        #expect(WallClock.rfc3339(4_102_444_800_000) == "2100-01-01T00:00:00.000Z")
    }

    @Test func readsLambdaAndSwiftLogLevelNames() {
        #expect(JSONLogHandler.level(named: "WARN") == .warning)
        #expect(JSONLogHandler.level(named: "FATAL") == .critical)
        #expect(JSONLogHandler.level(named: "DEBUG") == .debug)
        #expect(JSONLogHandler.level(named: "warning") == .warning)
        #expect(JSONLogHandler.level(named: "loud") == nil)
    }
}

@Suite struct EmbeddedMetricTests {
    @Test func writesOneEMFObjectWithTheFunctionAsDimension() throws {
        let metrics = InvocationMetrics()
        metrics.add("WeChatCalls", 0)
        metrics.add("WeChatCalls")
        metrics.add("WeChatCalls")
        metrics.add("WeChatLatency", 12.3456, unit: .milliseconds)
        metrics.add("SignIns")
        let line = metrics.embeddedMetricFormat(
            namespace: "wxauth",
            function: "login",
            requestId: "r1",
            timestampMilliseconds: 1_796_579_401_123
        )
        #expect(
            line
                == #"{"_aws":{"Timestamp":1796579401123,"CloudWatchMetrics":[{"Namespace":"wxauth","Dimensions":[["function"]],"Metrics":[{"Name":"WeChatCalls","Unit":"Count"},{"Name":"WeChatLatency","Unit":"Milliseconds"},{"Name":"SignIns","Unit":"Count"}]}]},"function":"login","requestId":"r1","WeChatCalls":2,"WeChatLatency":12.346,"SignIns":1}"#
                + "\n"
        )
        #expect(metrics.value(of: "WeChatCalls") == 2)
        #expect(metrics.value(of: "CircuitOpen") == nil)
    }

    @Test func numbersAreAlwaysValidJSON() {
        #expect(InvocationMetrics.number(-0.5) == "-0.500")
        #expect(InvocationMetrics.number(-1.5) == "-1.500")
        #expect(InvocationMetrics.number(.nan) == "0")
        #expect(InvocationMetrics.number(.infinity) == "0")
        #expect(InvocationMetrics.number(1e300) == "1e+300")
        #expect(InvocationMetrics.number(3) == "3")
    }

    @Test func theHarnessEndsEveryInvocationWithMetrics() async {
        let harness = FunctionHarness(functionName: "probe")
        let response = await harness.response(
            to: Array(#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET"}}}"#.utf8)
        ) {
            _,
            _ in
            InvocationMetrics.current?.add("SignIns")
            #expect(InvocationMetrics.current?.value(of: "SignIns") == 1)
            return FunctionResponse(statusCode: 204)
        }
        #expect(response.statusCode == 204)
    }
}
