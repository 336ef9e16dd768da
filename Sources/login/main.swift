import FunctionRuntime
import WeChatHTTP
import WXAuth

// Before anything else: a PostgreSQL configuration runs wxauth-postgres in this process's place.
let handOffFailure = Functions.handOffToPostgresIfConfigured(.login)
FunctionHarness.start(name: "login") {
    // login calls WeChat: of the function binaries, only it and callback link an HTTP client (WeChatHTTP).
    Functions.definition(.login, environment: $0, weChatTransport: AsyncHTTPClientTransport(), handOffFailure: handOffFailure)
}
