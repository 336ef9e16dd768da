import Foundation
import FunctionRuntime
import Logging
import Synchronization
import TestSupport
import Testing
import WXAuth
import WXAuthStore
import WeChat

@Suite struct SharedUserDataTests {
    let logger = Logger(label: "test")

    // WeChat's official demo vector (WECHAT.md §A4; inputs as in binarywang/WxJava WxMaCryptUtilsTest.java,
    // from WeChat's published decryption demo): appid, session_key, iv, encryptedData and the plaintext.
    static let demoAppid = "wx4f4bc4dec97d474b"
    static let demoSessionKey = "tiihtNczf5v6AKRyjwEUhQ=="
    static let demoIV = "r7BXXKkLb8qrSNn05n0qiA=="
    static let demoEncryptedData =
        "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
    static let demoWatermarkTime: Int64 = 1_477_314_187

    // WeChat's official rawData signature vector (WECHAT.md §A4, from the open-ability signature page).
    static let signatureRawData =
        #"{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}"#
    static let signatureSessionKey = "HyVFkGl5F5OQWJZZaNzBBg=="
    static let signature = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"

    func services(
        _ wechat: ScriptedWeChat,
        appid: String = demoAppid,
        now: Int64 = demoWatermarkTime + 60,
        store: any Store = MemoryStore()
    )
        async -> Services
    {
        var config = Fixture.config()
        config.miniProgram = AppCredentials(appid: appid, secret: Secret(Fixture.appSecret))
        let tokens = AccessTokens(keys: config.signingKeys, issuer: "wxauth", audience: "wxauth", ttl: 900)
        let client = WeChatClient(
            apiBase: "http://wechat.test",
            transport: wechat,
            clock: InstantWeChatClock(),
            retryPolicy: RetryPolicy(jitter: { _ in .zero }),
            logger: logger
        )
        return Services(config: config, store: store, tokens: tokens, wechat: client, clock: ManualClock(now))
    }

    static func session(_ key: String) -> String {
        #"{"session_key":"\#(key)","openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE"}"#
    }

    @Test func officialEncryptedProfileIsStoredAndShownByUserinfo() async throws {
        let wechat = ScriptedWeChat(routes: ["/sns/jscode2session": [Self.session(Self.demoSessionKey)]])
        let services = await services(wechat)
        let shared = SharedUserData(encryptedData: Self.demoEncryptedData, iv: Self.demoIV)
        let tokens = try await Fixture.signIn(services, shared: shared)
        #expect(tokens.user.unionid == "ocMvos6NjeKLIBqg5Mr9QjxrP1FA")
        let info = try await UserInfoFlow.run(bearer: tokens.accessToken, services: services, logger: logger)
        #expect(info.nickname == "Band")
        #expect(
            info.picture?.hasPrefix(
                "http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ"
            ) == true
        )
        #expect(info.gender == 1 && info.locale == "zh_CN")
        #expect(info.unionid == "ocMvos6NjeKLIBqg5Mr9QjxrP1FA")

        // Later data is decrypted with the stored session_key.
        let plaintext = try await UserInfoFlow.decrypt(
            bearer: tokens.accessToken,
            encryptedData: Self.demoEncryptedData,
            iv: Self.demoIV,
            services: services,
            logger: logger
        )
        #expect(
            String(decoding: plaintext, as: UTF8.self).hasPrefix(
                #"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band""#
            )
        )
    }

    @Test func officialRawDataSignatureIsChecked() async throws {
        let wechat = ScriptedWeChat(routes: ["/sns/jscode2session": [Self.session(Self.signatureSessionKey)]])
        let services = await services(wechat)
        let good = SharedUserData(rawData: Self.signatureRawData, signature: Self.signature)
        let tokens = try await Fixture.signIn(services, shared: good)
        #expect(
            try await UserInfoFlow.run(bearer: tokens.accessToken, services: services, logger: logger).nickname
                == "Band"
        )

        let bad = SharedUserData(
            rawData: Self.signatureRawData.replacingOccurrences(of: "Band", with: "Evil"),
            signature: Self.signature
        )
        let error = await #expect(throws: AuthError.self) {
            try await Fixture.signIn(services, shared: bad)
        }
        #expect(error?.status == 400 && error?.code == "invalid_request")
    }

    @Test(arguments: [
        (demoEncryptedData, demoIV, demoAppid, demoWatermarkTime + 60, "bad padding"),  // wrong session key below
        (demoEncryptedData, demoIV, "wxforeignapp00000", demoWatermarkTime + 60, "watermark"),
        (demoEncryptedData, demoIV, demoAppid, demoWatermarkTime + 86_400, "watermark"),
        (demoEncryptedData.replacingOccurrences(of: "+", with: " "), demoIV, demoAppid, demoWatermarkTime + 60, "+"),
        (
            demoEncryptedData.replacingOccurrences(of: "+", with: "%2B"), demoIV, demoAppid, demoWatermarkTime + 60,
            "URL"
        ),
        (demoEncryptedData, "AAAA", demoAppid, demoWatermarkTime + 60, "iv"),
    ])
    func badPayloadsAreClearInvalidRequests(
        data: String,
        iv: String,
        appid: String,
        now: Int64,
        hint: String
    ) async throws {
        let key = hint == "bad padding" ? Self.signatureSessionKey : Self.demoSessionKey
        let wechat = ScriptedWeChat(routes: ["/sns/jscode2session": [Self.session(key)]])
        let services = await services(wechat, appid: appid, now: now)
        let response = try await Functions.login(ServiceProvider(services))(
            FunctionRequest(
                method: "POST",
                path: "/login",
                headers: ["content-type": "application/json"],
                body: Array(try JSONEncoder().encode(["code": "c", "encryptedData": data, "iv": iv]))
            ),
            FunctionContext(functionName: "login", logger: logger, deadline: .now + .seconds(5))
        )
        #expect(response.statusCode == 400)
        let body = try decodeJSON(Refusal.self, from: response.body)
        #expect(body.error == "invalid_request")
        let description = body.error_description ?? ""
        #expect(description.lowercased().contains(hint.lowercased()), "\(description)")
        assertNoSecrets([key], in: response.body)
    }

    @Test func halfPairsAreRefusedBeforeWeChatIsCalled() async throws {
        let wechat = ScriptedWeChat(routes: ["/sns/jscode2session": [Self.session(Self.demoSessionKey)]])
        let services = await services(wechat)
        for shared in [SharedUserData(encryptedData: "x"), SharedUserData(signature: "y")] {
            await #expect(throws: AuthError.self) {
                try await Fixture.signIn(services, shared: shared)
            }
        }
        #expect(wechat.calls("/sns/jscode2session").isEmpty)
    }

    static let stable = #"{"access_token":"APP-TOKEN-1","expires_in":7200}"#
    static let phone =
        #"{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":86,"watermark":{"timestamp":1477314247,"appid":"wx4f4bc4dec97d474b"}}}"#

    @Test func phoneNumberUsesOneCachedStableToken() async throws {
        let wechat = ScriptedWeChat(routes: [
            "/sns/jscode2session": [Self.session(Self.demoSessionKey)], "/cgi-bin/stable_token": [Self.stable],
            "/wxa/business/getuserphonenumber": [Self.phone],
        ])
        let services = await services(wechat)
        for _ in 0..<3 {
            let tokens = try await Fixture.signIn(services, shared: SharedUserData(phoneCode: "p"))
            let info = try await UserInfoFlow.run(bearer: tokens.accessToken, services: services, logger: logger)
            #expect(info.phoneNumber == "13800138000" && info.phoneNumberVerified == true)
        }
        #expect(wechat.calls("/cgi-bin/stable_token").count == 1)
        #expect(wechat.calls("/cgi-bin/stable_token").first?.contains(#""force_refresh":false"#) == true)
        #expect(wechat.calls("/wxa/business/getuserphonenumber").count == 3)
    }

    @Test func aRefusedAppTokenIsForceRefreshedOnceAndTheCallRetried() async throws {
        let wechat = ScriptedWeChat(routes: [
            "/sns/jscode2session": [Self.session(Self.demoSessionKey)],
            "/cgi-bin/stable_token": [Self.stable, #"{"access_token":"APP-TOKEN-2","expires_in":7200}"#],
            "/wxa/business/getuserphonenumber": [#"{"errcode":40001,"errmsg":"invalid credential"}"#, Self.phone],
        ])
        let services = await services(wechat)
        let tokens = try await Fixture.signIn(services, shared: SharedUserData(phoneCode: "p"))
        #expect(tokens.user.openid == "oGZUI0egBJY1zhBYw2KhdUfwVJJE")
        let stableCalls = wechat.calls("/cgi-bin/stable_token")
        #expect(stableCalls.count == 2)
        #expect(stableCalls.last?.contains(#""force_refresh":true"#) == true)
        #expect(wechat.calls("/wxa/business/getuserphonenumber").count == 2)
    }

    @Test func anUsedPhoneCodeIsAnInvalidGrant() async throws {
        let wechat = ScriptedWeChat(routes: [
            "/sns/jscode2session": [Self.session(Self.demoSessionKey)], "/cgi-bin/stable_token": [Self.stable],
            "/wxa/business/getuserphonenumber": [#"{"errcode":40029,"errmsg":"invalid code"}"#],
        ])
        let error = await #expect(throws: AuthError.self) {
            try await Fixture.signIn(await services(wechat), shared: SharedUserData(phoneCode: "p"))
        }
        #expect(error?.code == "invalid_grant" && error?.wechatErrcode == 40029)
    }
}
