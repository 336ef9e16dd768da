import FunctionRuntime
import WXAuth
import WXAuthPostgres
import WeChatHTTP

FunctionHarness.start(name: "login", settings: .wxauth) {
    // login calls WeChat: of the function binaries, only login and callback link an HTTP client.
    Functions.definition(.login, environment: $0, weChatTransport: WireTransport(), postgres: PostgresStore.opener)
}
