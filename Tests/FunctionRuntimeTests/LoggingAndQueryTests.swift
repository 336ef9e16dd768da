import FunctionRuntime
import Logging
import Testing

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
        #expect(FunctionRequest(method: "get", path: "/", headers: ["Authorization": "Bearer abc"]).bearerToken == "abc")
        #expect(FunctionRequest(method: "get", path: "/", headers: ["authorization": "bearer  abc "]).bearerToken == "abc")
        #expect(FunctionRequest(method: "get", path: "/", headers: ["authorization": "Basic abc"]).bearerToken == nil)
        #expect(FunctionRequest(method: "get", path: "/", headers: ["authorization": "Bearer"]).bearerToken == nil)
    }
}

@Suite struct StructuredLogTests {
    @Test func formatsRFC3339TimestampsInUTCWithMilliseconds() {
        #expect(LogTimestamp.rfc3339(0) == "1970-01-01T00:00:00.000Z")
        #expect(LogTimestamp.rfc3339(1_796_579_401_123) == "2026-12-06T17:50:01.123Z")
        #expect(LogTimestamp.rfc3339(951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(LogTimestamp.rfc3339(-1) == "1969-12-31T23:59:59.999Z")
        #expect(LogTimestamp.rfc3339(4_102_444_800_000) == "2100-01-01T00:00:00.000Z")
    }

    @Test func readsLambdaAndSwiftLogLevelNames() {
        #expect(JSONLogHandler.level(named: "WARN") == .warning)
        #expect(JSONLogHandler.level(named: "FATAL") == .critical)
        #expect(JSONLogHandler.level(named: "DEBUG") == .debug)
        #expect(JSONLogHandler.level(named: "warning") == .warning)
        #expect(JSONLogHandler.level(named: "loud") == nil)
    }
}
