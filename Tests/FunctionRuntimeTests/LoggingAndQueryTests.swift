import FunctionRuntime
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
