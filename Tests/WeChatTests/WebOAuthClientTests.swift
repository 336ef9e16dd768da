import Foundation
import Logging
import TestSupport
import Testing

@testable import WeChat

@Suite struct WebOAuthClientTests {
    let secret = Secret("web-app-secret-value")
    let tokenBody =
        #"{"access_token":"ACCESS_tok_1","expires_in":7200,"refresh_token":"REFRESH_tok_1","openid":"oWeb1","scope":"snsapi_userinfo","unionid":"oUnion1"}"#

    func client(_ transport: ScriptedWeChat, logs: LogRecorder = LogRecorder()) -> WeChatClient {
        scriptedClient(transport, logs: logs)
    }

    func exchange(
        _ transport: ScriptedWeChat,
        logs: LogRecorder = LogRecorder()
    ) async throws(WeChatError) -> WebAccessToken {
        try await client(transport, logs: logs).exchangeWebCode(
            appid: "wxoa",
            secret: secret,
            code: "code/1+x",
            deadline: .now + .seconds(10)
        )
    }

    // MARK: Code exchange

    @Test func exchangesAWebCodeAnsweredAsTextPlain() async throws {
        let transport = ScriptedWeChat([.answer(200, tokenBody, "text/plain")])
        let token = try await exchange(transport)
        #expect(token.accessToken.revealed == "ACCESS_tok_1")
        #expect(token.refreshToken.revealed == "REFRESH_tok_1")
        #expect(token.expiresIn == 7200)
        #expect(token.openid == "oWeb1")
        #expect(token.scope == "snsapi_userinfo")
        #expect(token.scopes == [.userinfo])
        #expect(token.allowsUserInfo)
        #expect(token.unionid == "oUnion1")
        #expect(!token.isSnapshotUser)
        #expect(
            transport.urls == [
                "http://wechat.test/sns/oauth2/access_token?appid=wxoa&secret=web-app-secret-value&code=code%2F1%2Bx&grant_type=authorization_code"
            ]
        )
    }

    @Test func readsTheSnapshotFlagAndAMissingUnionid() async throws {
        let body =
            #"{"access_token":"a","expires_in":"7200","refresh_token":"r","openid":"o","scope":"snsapi_base","is_snapshotuser":1,"unionid":""}"#
        let token = try await exchange(ScriptedWeChat([.answer(200, body, nil)]))
        #expect(token.isSnapshotUser)
        #expect(token.unionid == nil)
        #expect(token.scopes == [.base])
        #expect(!token.allowsUserInfo)
        #expect(token.expiresIn == 7200)
    }

    @Test(arguments: [
        (40029, WeChatError.Category.invalidCode), (40163, .invalidCode), (42003, .invalidCode), (40226, .blockedUser),
        (40125, .configuration), (40013, .configuration), (45011, .rateLimited),
    ])
    func errcodesOnHTTP200AreClassifiedAndNotRetried(errcode: Int, category: WeChatError.Category) async throws {
        let transport = ScriptedWeChat([
            .answer(200, #"{"errcode":\#(errcode),"errmsg":"nope, rid: 1"}"#, "application/json")
        ])
        let error = await #expect(throws: WeChatError.self) { try await exchange(transport) }
        #expect(error?.errcode == errcode)
        #expect(error?.category == category)
        #expect(error?.endpoint == "/sns/oauth2/access_token")
        #expect(transport.calls == 1)
    }

    @Test func aCodeIsNotResentAfterTheRequestMayHaveReachedWeChat() async throws {
        for failure in [
            ScriptedWeChat.Outcome.failure(
                TransportFailure(reason: "timed out", mayHaveReachedServer: true, isTimeout: true)
            ),
            .failure(TransportFailure(reason: "connection closed", mayHaveReachedServer: true)),
            .answer(502, "bad gateway", "text/html"),
        ] {
            let transport = ScriptedWeChat([failure, .answer(200, tokenBody, nil)])
            let error = await #expect(throws: WeChatError.self) { try await exchange(transport) }
            #expect(error?.category == .unavailable)
            #expect(transport.calls == 1)
        }
    }

    @Test func busyAndNeverSentAreRetried() async throws {
        let transport = ScriptedWeChat([
            .answer(200, #"{"errcode":-1,"errmsg":"system error"}"#, nil),
            .failure(TransportFailure(reason: "could not connect", mayHaveReachedServer: false)),
            .answer(200, tokenBody, nil),
        ])
        let token = try await exchange(transport)
        #expect(token.openid == "oWeb1")
        #expect(transport.calls == 3)
        #expect(Set(transport.urls).count == 1)
    }

    @Test(arguments: [
        #"{"expires_in":7200,"refresh_token":"r","openid":"o"}"#,
        #"{"access_token":"a","expires_in":7200,"openid":"o"}"#,
        #"{"access_token":"a","expires_in":7200,"refresh_token":"r"}"#,
        #"{"access_token":"a","refresh_token":"r","openid":"o"}"#,
        "[]", "<html>",
    ])
    func incompleteAnswersAreUnavailable(body: String) async throws {
        let error = await #expect(throws: WeChatError.self) {
            try await exchange(ScriptedWeChat([.answer(200, body, nil)]))
        }
        #expect(error?.category == .unavailable)
    }

    @Test func tokensAndSecretsNeverReachLogsOrErrors() async throws {
        let logs = LogRecorder()
        let failures: [ScriptedWeChat.Outcome] = [
            .answer(200, #"{"errcode":-1,"errmsg":"busy"}"#, nil),
            .failure(TransportFailure(reason: "timed out", mayHaveReachedServer: true, isTimeout: true)),
        ]
        let error = await #expect(throws: WeChatError.self) {
            try await exchange(ScriptedWeChat(failures), logs: logs)
        }
        let token = try await exchange(ScriptedWeChat([.answer(200, tokenBody, nil)]), logs: logs)
        let refresh = Secret("REFRESH_secret_value")
        let refreshError = await #expect(throws: WeChatError.self) {
            try await client(
                ScriptedWeChat([.answer(200, #"{"errcode":40030,"errmsg":"invalid refresh_token"}"#, nil)]),
                logs: logs
            )
            .refreshWebToken(appid: "wxoa", refreshToken: refresh, deadline: .now + .seconds(10))
        }
        let text =
            logs.all.joined(separator: "\n") + "\(String(describing: error)) \(String(reflecting: error))"
            + "\(String(describing: refreshError)) \(token) \(String(reflecting: token))"
        for forbidden in [secret.revealed, "ACCESS_tok_1", "REFRESH_tok_1", refresh.revealed, "code/1", "secret="] {
            #expect(!text.contains(forbidden))
        }
    }

    // MARK: Refresh

    @Test func refreshSendsNoSecretAndIsRetriedAfterATimeout() async throws {
        let transport = ScriptedWeChat([
            .failure(TransportFailure(reason: "timed out", mayHaveReachedServer: true, isTimeout: true)),
            .answer(
                200,
                #"{"access_token":"ACCESS_2","expires_in":7200,"refresh_token":"R 1","openid":"oWeb1","scope":"snsapi_base"}"#,
                nil
            ),
        ])
        let token = try await client(transport).refreshWebToken(
            appid: "wxoa",
            refreshToken: Secret("R 1"),
            deadline: .now + .seconds(10)
        )
        #expect(token.accessToken.revealed == "ACCESS_2")
        #expect(token.refreshToken.revealed == "R 1")
        #expect(token.unionid == nil)
        #expect(transport.calls == 2)
        #expect(
            transport.urls[0]
                == "http://wechat.test/sns/oauth2/refresh_token?appid=wxoa&grant_type=refresh_token&refresh_token=R%201"
        )
    }

    @Test(arguments: [40030, 42002, 42007])
    func aDeadRefreshTokenMeansReauthorise(errcode: Int) async throws {
        let transport = ScriptedWeChat([.answer(200, #"{"errcode":\#(errcode),"errmsg":"x"}"#, nil)])
        let error = await #expect(throws: WeChatError.self) {
            try await client(transport).refreshWebToken(
                appid: "wxoa",
                refreshToken: Secret("r"),
                deadline: .now + .seconds(10)
            )
        }
        #expect(error?.category == .refreshTokenInvalid)
        #expect(transport.calls == 1)
    }

    // MARK: User info

    @Test func readsTheProfile() async throws {
        let body =
            #"{"openid":"oWeb1","nickname":"Band 🐼","sex":1,"province":"广东","city":"广州","country":"中国","headimgurl":"https://thirdwx.qlogo.cn/x/132","privilege":["chinaunicom"],"unionid":"oUnion1"}"#
        let transport = ScriptedWeChat([.answer(200, body, "text/plain")])
        let info = try await client(transport).webUserInfo(
            accessToken: Secret("AT"),
            openid: "oWeb1",
            deadline: .now + .seconds(10)
        )
        #expect(
            info
                == WebUserInfo(
                    openid: "oWeb1",
                    nickname: "Band 🐼",
                    sex: 1,
                    province: "广东",
                    city: "广州",
                    country: "中国",
                    headimgurl: "https://thirdwx.qlogo.cn/x/132",
                    privilege: ["chinaunicom"],
                    unionid: "oUnion1"
                )
        )
        #expect(transport.urls == ["http://wechat.test/sns/userinfo?access_token=AT&openid=oWeb1&lang=zh_CN"])
    }

    @Test func aSparseProfileFallsBackToDefaults() async throws {
        let transport = ScriptedWeChat([.answer(200, #"{"openid":"o","nickname":"微信用户","headimgurl":""}"#, nil)])
        let info = try await client(transport).webUserInfo(
            accessToken: Secret("AT"),
            openid: "o",
            lang: "en",
            deadline: .now + .seconds(10)
        )
        #expect(info == WebUserInfo(openid: "o", nickname: "微信用户"))
        #expect(transport.urls[0].hasSuffix("&lang=en"))
    }

    @Test func anotherUsersProfileIsRefused() async throws {
        let transport = ScriptedWeChat([.answer(200, #"{"openid":"oOther","nickname":"x"}"#, nil)])
        let error = await #expect(throws: WeChatError.self) {
            try await client(transport).webUserInfo(
                accessToken: Secret("AT"),
                openid: "oWeb1",
                deadline: .now + .seconds(10)
            )
        }
        #expect(error?.category == .unavailable)
    }

    @Test(arguments: [
        (48001, WeChatError.Category.insufficientScope), (42001, .userTokenInvalid), (40001, .userTokenInvalid),
        (40014, .userTokenInvalid), (40003, .invalidParameter),
    ])
    func userInfoRefusalsAreDistinguishable(errcode: Int, category: WeChatError.Category) async throws {
        let transport = ScriptedWeChat([.answer(200, #"{"errcode":\#(errcode),"errmsg":"x"}"#, nil)])
        let error = await #expect(throws: WeChatError.self) {
            try await client(transport).webUserInfo(
                accessToken: Secret("AT"),
                openid: "o",
                deadline: .now + .seconds(10)
            )
        }
        #expect(error?.category == category)
        #expect(transport.calls == 1)
    }

    @Test func theSameErrcodesElsewhereKeepTheirAppMeaning() {
        #expect(WeChatError.Category(errcode: 40001, endpoint: "/cgi-bin/stable_token") == .appTokenInvalid)
        #expect(WeChatError.Category(errcode: 42001, endpoint: "/wxa/business/getuserphonenumber") == .appTokenInvalid)
        #expect(WeChatError.Category(errcode: 48001, endpoint: "/sns/oauth2/access_token") == .configuration)
        #expect(WeChatError.Category(errcode: 42001, endpoint: "/sns/auth") == .userTokenInvalid)
    }

    // MARK: Token check

    @Test func checkAnswersTrueFalseOrThrows() async throws {
        let ok = ScriptedWeChat([.answer(200, #"{"errcode":0,"errmsg":"ok"}"#, nil)])
        #expect(
            try await client(ok).checkWebToken(accessToken: Secret("AT"), openid: "o 1", deadline: .now + .seconds(10))
        )
        #expect(ok.urls == ["http://wechat.test/sns/auth?access_token=AT&openid=o%201"])

        for errcode in [40003, 42001, 40001] {
            let refused = ScriptedWeChat([.answer(200, #"{"errcode":\#(errcode),"errmsg":"x"}"#, nil)])
            #expect(
                try await !client(refused).checkWebToken(
                    accessToken: Secret("AT"),
                    openid: "o",
                    deadline: .now + .seconds(10)
                )
            )
        }

        let broken = ScriptedWeChat([.answer(500, "", nil)])
        await #expect(throws: WeChatError.self) {
            try await client(broken).checkWebToken(
                accessToken: Secret("AT"),
                openid: "o",
                deadline: .now + .seconds(10)
            )
        }
    }

    // MARK: Authorize URLs

    @Test func officialAccountURLIsInWeChatsOrderAndStrictlyEncoded() throws {
        let url = try WebAuthorizeURL.officialAccount(
            openBase: "http://127.0.0.1:8787/",
            appid: "wxoa",
            redirectURI: "https://a.example/callback?return_to=/x&y=1#frag+%",
            scope: .base,
            state: "S1a2"
        )
        #expect(
            url == "http://127.0.0.1:8787/connect/oauth2/authorize?appid=wxoa"
                + "&redirect_uri=https%3A%2F%2Fa.example%2Fcallback%3Freturn_to%3D%2Fx%26y%3D1%23frag%2B%25"
                + "&response_type=code&scope=snsapi_base&state=S1a2#wechat_redirect"
        )
        let userinfo = try WebAuthorizeURL.officialAccount(
            appid: "wxoa",
            redirectURI: "https://a.example/cb",
            scope: .userinfo,
            state: ""
        )
        #expect(userinfo.hasPrefix("https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxoa&redirect_uri="))
        #expect(userinfo.hasSuffix("&scope=snsapi_userinfo&state=#wechat_redirect"))
    }

    @Test func qrConnectURLUsesSnsapiLogin() throws {
        let url = try WebAuthorizeURL.qrConnect(
            appid: "wxweb",
            redirectURI: "https://a.example/cb",
            state: "abc",
            lang: "en"
        )
        #expect(
            url == "https://open.weixin.qq.com/connect/qrconnect?appid=wxweb&redirect_uri=https%3A%2F%2Fa.example%2Fcb"
                + "&response_type=code&scope=snsapi_login&state=abc&lang=en#wechat_redirect"
        )
    }

    @Test(arguments: ["a-b", "a_b", "a b", "ünï", "abc=", String(repeating: "a", count: 129)])
    func statesWeChatWouldMangleAreRefused(state: String) {
        #expect(!WebAuthorizeURL.isValidState(state))
        #expect(throws: WebAuthorizeURL.InvalidState.self) {
            try WebAuthorizeURL.qrConnect(appid: "wxweb", redirectURI: "https://a.example/cb", state: state)
        }
    }

    @Test func theLongestStateIsAccepted() {
        #expect(WebAuthorizeURL.isValidState(String(repeating: "Z9", count: 64)))
    }
}
