import Foundation
import FunctionRuntime
import Logging
import TestSupport
import Testing
import WXAuth
import WXAuthStore
import WeChat

@Suite struct FlowTests {
    let logger = Logger(label: "test")

    func context() -> FunctionContext {
        FunctionContext(functionName: "test", logger: logger, deadline: .now + .seconds(10))
    }

    func post(_ body: String, contentType: String = "application/json") -> FunctionRequest {
        FunctionRequest(method: "POST", path: "/", headers: ["content-type": contentType], body: Array(body.utf8))
    }

    func error(_ response: FunctionResponse) throws -> Refusal {
        try decodeJSON(from: response.body)
    }

    @Test func signInRefreshAndUserinfo() async throws {
        let wechat = ScriptedWeChat(answering: Fixture.session)
        let clock = ManualClock()
        let services = await Fixture.services(wechat, clock: clock)
        let provider = ServiceProvider(services)

        let login = try await Functions.login(provider)(post(#"{"code":"0a1b2c"}"#), context())
        #expect(login.statusCode == 200)
        #expect(login.headers["cache-control"] == "no-store")
        let tokens = try decodeJSON(TokenAnswer.self, from: login.body)
        #expect(tokens.token_type == "Bearer")
        #expect(tokens.expires_in == 900)
        #expect(tokens.refresh_expires_in == 604_800)
        let user = tokens.user
        #expect(user.openid == "oAlice" && user.unionid == "uAlice")
        assertNoSecrets(["tiihtNczf5v6AKRyjwEUhQ"], in: login.body)
        let access = tokens.access_token
        let refresh = tokens.refresh_token
        #expect(RefreshToken.isWellFormed(refresh))

        let info = try await Functions.userinfo(provider)(
            FunctionRequest(method: "GET", path: "/userinfo", headers: ["authorization": "Bearer \(access)"]),
            context()
        )
        #expect(info.statusCode == 200)
        let claims = try decodeJSON(Profile.self, from: info.body)
        #expect(claims.sub == user.id)
        #expect(claims.openid == "oAlice")
        #expect(claims.updated_at == Int(clock.nowSeconds))

        clock.advance(60)
        let rotated = try await Functions.refresh(provider)(post(#"{"refresh_token":"\#(refresh)"}"#), context())
        #expect(rotated.statusCode == 200)
        let next = try decodeJSON(TokenAnswer.self, from: rotated.body)
        #expect(next.refresh_token != refresh)

        let replay = try await Functions.refresh(provider)(
            post("refresh_token=\(refresh)", contentType: "application/x-www-form-urlencoded"),
            context()
        )
        #expect(replay.statusCode == 400)
        #expect(try error(replay).error == "invalid_grant")
        let afterReuse = try await Functions.refresh(provider)(
            post(#"{"refresh_token":"\#(next.refresh_token)"}"#),
            context()
        )
        #expect(afterReuse.statusCode == 400)
        let revokedInfo = try await Functions.userinfo(provider)(
            FunctionRequest(method: "GET", path: "/userinfo", headers: ["authorization": "Bearer \(access)"]),
            context()
        )
        #expect(revokedInfo.statusCode == 401)
        #expect(revokedInfo.headers["www-authenticate"]?.contains(#"error="invalid_token""#) == true)
    }

    @Test func sessionKeyIsStoredEncrypted() async throws {
        let store = MemoryStore()
        let services = await Fixture.services(ScriptedWeChat(answering: Fixture.session), store: store)
        _ = try await Fixture.signIn(services)
        let sealed = try #require(try await store.sealedSessionKey(appid: "wxmini", openid: "oAlice"))
        assertNoSecrets(["tiihtNczf5v6AKRyjwEUhQ"], in: String(decoding: sealed, as: UTF8.self))
        #expect(try services.secretBox.open(sealed).revealed == "tiihtNczf5v6AKRyjwEUhQ==")
    }

    @Test(arguments: [
        (#"{"errcode":40029,"errmsg":"invalid code"}"#, 400, "invalid_grant", 40029),
        (#"{"errcode":40163,"errmsg":"code been used"}"#, 400, "invalid_grant", 40163),
        (#"{"errcode":40226,"errmsg":"high risk"}"#, 403, "access_denied", 40226),
        (#"{"errcode":40125,"errmsg":"invalid appsecret"}"#, 500, "server_error", 40125),
        (#"{"errcode":-1,"errmsg":"busy"}"#, 503, "temporarily_unavailable", -1),
        (#"{"errcode":45011,"errmsg":"freq limit"}"#, 503, "temporarily_unavailable", 45011),
    ])
    func weChatRefusalsMapToContractErrors(answer: String, status: Int, code: String, errcode: Int) async throws {
        let services = await Fixture.services(ScriptedWeChat(answering: answer))
        let response = try await Functions.login(ServiceProvider(services))(post(#"{"code":"abc"}"#), context())
        #expect(response.statusCode == status)
        let body = try error(response)
        #expect(body.error == code)
        #expect(body.wechat_errcode == errcode)
        if status == 503 { #expect(response.headers["retry-after"] != nil) }
        assertNoSecrets([Fixture.appSecret], in: response.body)
    }

    @Test(arguments: [
        ("", "code is required"), ("{}", "code is required"), (#"{"code":5}"#, "code must be a string"),
        (#"{"code":""}"#, "code is required"), ("[1]", "the body is a JSON array, not a JSON object"),
        ("{", "the body is not valid JSON (RFC 8259); expected a JSON object"),
        (#"{"code":"a b"}"#, "code must be the printable code from wx.login"),
    ])
    func badLoginBodiesAreInvalidRequests(body: String, message: String) async throws {
        let services = await Fixture.services(ScriptedWeChat(answering: Fixture.session))
        let response = try await Functions.login(ServiceProvider(services))(post(body), context())
        #expect(response.statusCode == 400)
        let body = try error(response)
        #expect(body.error == "invalid_request")
        #expect(body.error_description == message)
    }

    @Test func wrongMethodsGet405WithAllow() async throws {
        let provider = ServiceProvider(await Fixture.services(ScriptedWeChat(answering: Fixture.session)))
        let cases: [(FunctionHandler, String, String)] = [
            (Functions.login(provider), "DELETE", "GET, POST"), (Functions.refresh(provider), "GET", "POST"),
            (Functions.userinfo(provider), "PUT", "GET, POST"), (Functions.callback(provider), "POST", "GET"),
        ]
        for (handler, method, allow) in cases {
            let response = try await handler(FunctionRequest(method: method, path: "/"), context())
            #expect(response.statusCode == 405)
            #expect(response.headers["allow"] == allow)
            #expect(try error(response).error == "method_not_allowed")
        }
    }

    @Test func refreshErrors() async throws {
        let clock = ManualClock()
        let services = await Fixture.services(ScriptedWeChat(answering: Fixture.session), clock: clock)
        let provider = ServiceProvider(services)
        let missing = try await Functions.refresh(provider)(post("{}"), context())
        #expect(missing.statusCode == 400)
        #expect(try error(missing).error == "invalid_request")
        let unknown = try await Functions.refresh(provider)(post(#"{"refresh_token":"nope"}"#), context())
        #expect(unknown.statusCode == 400)
        #expect(try error(unknown).error == "invalid_grant")

        let tokens = try await Fixture.signIn(services)
        clock.advance(604_800)
        let expired = try await Functions.refresh(provider)(
            post(#"{"refresh_token":"\#(tokens.refreshToken)"}"#),
            context()
        )
        #expect(expired.statusCode == 400)
        #expect(try error(expired).error_description == "the refresh token has expired")
    }

    @Test func refreshAcceptsTheCookie() async throws {
        let services = await Fixture.services(ScriptedWeChat(answering: Fixture.session))
        let tokens = try await Fixture.signIn(services)
        var request = FunctionRequest(method: "POST", path: "/refresh")
        request.cookies = [RefreshFlow.cookieName: tokens.refreshToken]
        let response = try await Functions.refresh(ServiceProvider(services))(request, context())
        #expect(response.statusCode == 200)
    }

    @Test func userinfoRefusesMissingAndMalformedBearers() async throws {
        let clock = ManualClock()
        let services = await Fixture.services(ScriptedWeChat(answering: Fixture.session), clock: clock)
        let provider = ServiceProvider(services)
        for headers in [[:], ["authorization": "Basic xyz"], ["authorization": "Bearer not-a-jwt"]] {
            let response = try await Functions.userinfo(provider)(
                FunctionRequest(method: "GET", path: "/", headers: headers),
                context()
            )
            #expect(response.statusCode == 401)
            #expect(response.headers["www-authenticate"] == #"Bearer realm="wxauth", error="invalid_token""#)
        }
        let tokens = try await Fixture.signIn(services)
        clock.advance(900 + 30)
        let expired = try await Functions.userinfo(provider)(
            FunctionRequest(method: "GET", path: "/", headers: ["authorization": "Bearer \(tokens.accessToken)"]),
            context()
        )
        #expect(expired.statusCode == 401)
    }

    @Test func missingConfigurationNamesTheSetting() async throws {
        let handler = Functions.login(
            ServiceProvider(environment: [:], weChatTransport: ScriptedWeChat(answering: Fixture.session))
        )
        let response = try await handler(post(#"{"code":"abc"}"#), context())
        #expect(response.statusCode == 500)
        #expect(try error(response).error_description?.hasPrefix("WXAUTH_JWT_SECRET is not set") == true)

        var config = Fixture.config()
        config.miniProgram = nil
        let noApp = try await Functions.login(
            ServiceProvider(await Fixture.services(ScriptedWeChat(answering: Fixture.session), config: config))
        )(
            post(#"{"code":"abc"}"#),
            context()
        )
        #expect(noApp.statusCode == 500)
        #expect(try error(noApp).error_description == "WECHAT_APPID and WECHAT_SECRET must be set")
    }

    /// Services without a WeChat client (an executable that passed no transport, which `Functions.definition`'s
    /// overloads rule out for login and callback): a sign-in is a 500 naming the cause, not a crash.
    @Test func aSignInWithoutAWeChatTransportIsAConfigurationErrorNamingIt() async throws {
        var services = await Fixture.services(ScriptedWeChat(answering: Fixture.session))
        services.wechat = nil
        let response = try await Functions.login(ServiceProvider(services))(post(#"{"code":"abc"}"#), context())
        #expect(response.statusCode == 500)
        let description = try #require(try error(response).error_description)
        #expect(description.contains("built without a WeChat transport"), "\(description)")
    }
}
