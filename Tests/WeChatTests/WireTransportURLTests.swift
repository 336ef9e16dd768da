import HTTPWire
import Testing
import WeChat

@testable import WeChatHTTP

struct WireTransportURLTests {
    @Test(arguments: [
        (
            "https://api.weixin.qq.com/sns/jscode2session?appid=a", true, "api.weixin.qq.com", 443,
            "/sns/jscode2session?appid=a"
        ),
        ("http://127.0.0.1:8080/cgi-bin/x", false, "127.0.0.1", 8080, "/cgi-bin/x"),
        ("http://[::1]:9000/a", false, "::1", 9000, "/a"),
        ("https://[2001:db8::1]/a", true, "2001:db8::1", 443, "/a"),
        ("http://h", false, "h", 80, "/"),
        ("http://h?x=1", false, "h", 80, "/?x=1"),
    ])
    func splitsAnOriginAndATarget(url: String, secure: Bool, host: String, port: Int, target: String) throws {
        let (origin, path) = try #require(WireTransport.split(url))
        #expect(origin.secure == secure && origin.host == host && origin.port == port)
        #expect(path == target)
    }

    @Test(arguments: [
        "ftp://h/a", "https://", "https://user:pass@h/a", "http://h:0/a", "http://h:65536/a", "http://h:-1/a",
        "http://h:1x/a", "http://[::1/a", "http://[::1]x/a", "http://h/a#frag", "http://:80/a", "h/a",
    ])
    func refusesWhatIsNotAnHTTPURL(url: String) {
        #expect(WireTransport.split(url) == nil)
    }

    @Test func aBadURLFailsUnsentWithoutQuotingIt() async {
        let error = await #expect(throws: TransportFailure.self) {
            try await WireTransport().send(WeChatHTTPRequest(url: "ftp://secret@h/"), timeout: .seconds(1))
        }
        #expect(error?.mayHaveReachedServer == false)
        #expect(error?.reason.contains("secret") == false)
    }
}
