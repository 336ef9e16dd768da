import FunctionRuntime
import WXAuth
import WXAuthPostgres
import WeChatHTTP

FunctionHarness.start(name: "callback", settings: .wxauth) {
    // callback calls WeChat: of the function binaries, only login and callback link an HTTP client.
    Functions.definition(.callback, environment: $0, weChatTransport: WireTransport(), postgres: PostgresStore.opener)
}
