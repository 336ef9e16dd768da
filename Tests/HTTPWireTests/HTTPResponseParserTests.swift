import Testing

@testable import HTTPWire

/// The response parser against what servers send and what a hostile peer might: every answer is also fed one
/// byte at a time and split at every point, and must come out the same.
struct HTTPResponseParserTests {
    static func parse(_ text: String, bodyLimit: Int = 1 << 20, isHEAD: Bool = false) throws -> HTTPWireResponse {
        try parse(Array(text.utf8), bodyLimit: bodyLimit, isHEAD: isHEAD)
    }

    /// Whole, then split at every point, then byte by byte: all must agree (or all fail alike).
    static func parse(_ bytes: [UInt8], bodyLimit: Int = 1 << 20, isHEAD: Bool = false) throws -> HTTPWireResponse {
        let whole = try feedAll([bytes[...]], bodyLimit: bodyLimit, isHEAD: isHEAD)
        for split in 0...bytes.count {
            let pieces = [bytes[..<split], bytes[split...]]
            #expect(try feedAll(pieces, bodyLimit: bodyLimit, isHEAD: isHEAD) == whole, "split at \(split)")
        }
        #expect(try feedAll(bytes.indices.map { bytes[$0...$0] }, bodyLimit: bodyLimit, isHEAD: isHEAD) == whole)
        return whole
    }

    static func feedAll(_ pieces: [ArraySlice<UInt8>], bodyLimit: Int, isHEAD: Bool) throws -> HTTPWireResponse {
        var parser = HTTPResponseParser(bodyLimit: bodyLimit, isHEAD: isHEAD)
        for piece in pieces {
            if let response = try parser.feed(piece) { return response }
        }
        return try parser.finish()
    }

    @Test func contentLength() throws {
        let response = try Self.parse(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        )
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.body == Array("{\"a\":1}".utf8))
    }

    @Test func bytesAfterAFixedBodyAreNotPartOfIt() throws {
        var parser = HTTPResponseParser(bodyLimit: 100)
        let response = try parser.feed(Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA".utf8))
        #expect(response?.body == Array("ok".utf8))
        #expect(parser.isDelimited)
    }

    @Test func chunkedWithExtensionsAndTrailers() throws {
        let response = try Self.parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n"
        )
        #expect(String(decoding: response.body, as: UTF8.self) == "Wikipedia in\r\n\r\nchunks.")
    }

    @Test func aBodyWithoutLengthEndsWithTheConnection() throws {
        var parser = HTTPResponseParser(bodyLimit: 100)
        #expect(try parser.feed(Array("HTTP/1.0 200 OK\r\n\r\nuntil the end".utf8)) == nil)
        let response = try parser.finish()
        #expect(response.body == Array("until the end".utf8))
        #expect(!parser.isDelimited, "a body ended by the connection leaves no connection to reuse")
    }

    @Test func interimAnswersAreSkipped() throws {
        let response = try Self.parse(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
        )
        #expect(response.status == 201)
        #expect(response.header("link") == nil)
    }

    @Test func noBodyForHEAD204And304() throws {
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", isHEAD: true).body.isEmpty)
        #expect(try Self.parse("HTTP/1.1 204 No Content\r\n\r\n").body.isEmpty)
        #expect(try Self.parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").body.isEmpty)
    }

    @Test func repeatedEqualContentLengthsAreOne() throws {
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok").body.count == 2)
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok").body.count == 2)
    }

    @Test func chunkedWinsOverContentLength() throws {
        let response = try Self.parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        )
        #expect(response.body == Array("ok".utf8))
    }

    static let refused: [(String, String)] = [
        ("", "closed without an answer"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "before the whole answer"),
        ("HTTP/2 200 OK\r\n\r\n", "status line"),
        ("HTTP/1.1 20 OK\r\n\r\n", "status line"),
        ("HTTP/1.1 2000 OK\r\n\r\n", "status line"),
        ("HTTP/1.1 099 Low\r\n\r\n", "out of range"),
        ("HTTP/1.1 600 High\r\n\r\n", "out of range"),
        ("HTTP/1.1 101 Switching\r\n\r\n", "switched protocols"),
        ("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed header"),
        ("HTTP/1.1 200 OK\r\nName : x\r\n\r\n", "malformed header"),
        ("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", "folded"),
        ("HTTP/1.1 200 OK\r\nA: b\nc\r\n\r\n", "control character"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", "Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", "larger than"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n", "too large"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7FFFFFFFFFFFFFF\r\n", "larger than"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n", "does not end"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n", "before the whole answer"),
    ]

    @Test(arguments: refused)
    func malformedAnswersAreRefused(text: String, reason: String) {
        let error = #expect(throws: HTTPWireError.self) {
            try Self.feedAll([Array(text.utf8)[...]], bodyLimit: 1000, isHEAD: false)
        }
        #expect(error?.description.contains(reason) == true, "\(error?.description ?? "-")")
    }

    @Test func anEndlessHeadIsCutOffAtTheLimit() {
        var parser = HTTPResponseParser(bodyLimit: 10, headLimit: 1000)
        let error = #expect(throws: HTTPWireError.self) {
            for _ in 0..<100 { _ = try parser.feed(Array("HTTP/1.1 200 OK\r\nX: aaaaaaaaaaaaaaaa".utf8)) }
        }
        #expect(error?.description.contains("header is larger") == true)
    }

    @Test func anEndlessChunkSizeLineIsCutOff() {
        var parser = HTTPResponseParser(bodyLimit: 10)
        let error = #expect(throws: HTTPWireError.self) {
            _ = try parser.feed(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8))
            for _ in 0..<100 { _ = try parser.feed([UInt8](repeating: UInt8(ascii: "0"), count: 100)) }
        }
        #expect(error?.description.contains("too long") == true || error?.description.contains("too large") == true)
    }

    @Test func aBodyUntilCloseStopsAtTheLimit() {
        var parser = HTTPResponseParser(bodyLimit: 10)
        let error = #expect(throws: HTTPWireError.self) {
            _ = try parser.feed(Array("HTTP/1.1 200 OK\r\n\r\n".utf8))
            for _ in 0..<5 { _ = try parser.feed([UInt8](repeating: 0x41, count: 4)) }
        }
        #expect(error?.description.contains("larger than 10") == true)
    }

    @Test func errorsNeverQuoteTheAnswer() {
        for (text, _) in Self.refused {
            do {
                _ = try Self.feedAll([Array((text + "SECRET").utf8)[...]], bodyLimit: 1000, isHEAD: false)
            } catch {
                #expect(!"\(error)".contains("SECRET"))
            }
        }
    }
}

struct HTTPRequestEncodingTests {
    @Test func aRequestIsWrittenWithLengthAndConnection() throws {
        let request = HTTPWireRequest(
            method: "POST",
            target: "/sns/x?a=1",
            host: "api.example.com",
            headers: [("Content-Type", "application/json")],
            body: Array("{}".utf8)
        )
        #expect(
            String(decoding: try request.encoded(), as: UTF8.self)
                == "POST /sns/x?a=1 HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
        #expect(
            String(decoding: try request.encoded(keepAlive: true), as: UTF8.self).contains(
                "Connection: keep-alive\r\n\r\n"
            )
        )
    }

    @Test func theEncoderOwnsLengthHostAndConnection() throws {
        let request = HTTPWireRequest(
            method: "GET",
            target: "/",
            host: "h",
            headers: [("Content-Length", "99"), ("Host", "evil"), ("connection", "upgrade")]
        )
        let text = String(decoding: try request.encoded(), as: UTF8.self)
        #expect(text == "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    }

    static let smuggling: [HTTPWireRequest] = [
        HTTPWireRequest(method: "GET", target: "/a\r\nX: y", host: "h"),
        HTTPWireRequest(method: "GET", target: "/a b", host: "h"),
        HTTPWireRequest(method: "GET", target: "a", host: "h"),
        HTTPWireRequest(method: "GE T", target: "/", host: "h"),
        HTTPWireRequest(method: "GET", target: "/", host: "h\r\nX: y"),
        HTTPWireRequest(method: "GET", target: "/", host: "h", headers: [("X", "a\r\nInjected: 1")]),
        HTTPWireRequest(method: "GET", target: "/", host: "h", headers: [("X Y", "a")]),
    ]

    @Test(arguments: 0..<smuggling.count)
    func aRequestThatWouldChangeShapeIsRefusedUnsent(index: Int) {
        let error = #expect(throws: HTTPWireError.self) { try Self.smuggling[index].encoded() }
        #expect(error?.mayHaveReachedServer == false)
    }

    @Test func theHostHeaderCarriesOnlyANonDefaultPort() {
        #expect(
            HTTPWireClient.Origin(secure: true, host: "api.weixin.qq.com", port: 443).hostHeader == "api.weixin.qq.com"
        )
        #expect(HTTPWireClient.Origin(secure: false, host: "127.0.0.1", port: 8080).hostHeader == "127.0.0.1:8080")
        #expect(HTTPWireClient.Origin(secure: false, host: "::1", port: 80).hostHeader == "[::1]")
    }
}
