import Testing

@testable import LocalRunner

@Suite("LoopbackHTTP")
struct LoopbackHTTPTests {
    @Test func parsesAContentLengthResponse() throws {
        let raw = "HTTP/1.1 201 Created\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"code\":\"c\"}\n"
        let response = try LoopbackHTTP.parse(Array(raw.utf8))
        #expect(response.status == 201)
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"code\":\"c\"}\n")
    }

    @Test func decodesAChunkedBody() throws {
        let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
        let response = try LoopbackHTTP.parse(Array(raw.utf8))
        #expect(String(decoding: response.body, as: UTF8.self) == "hello, world")
    }

    @Test(arguments: [
        "", "garbage\r\n\r\n", "HTTP/1.1 abc\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ])
    func rejectsMalformedResponses(raw: String) {
        #expect(throws: LoopbackHTTP.Failure.self) { try LoopbackHTTP.parse(Array(raw.utf8)) }
    }
}
