import FunctionRuntime
import WeChatHTTP
import WXAuth

// Before anything else: a PostgreSQL configuration runs wxauth-postgres in this process's place.
let handOffFailure = Functions.handOffToPostgresIfConfigured(.callback)
FunctionHarness.start(name: "callback") {
    // callback calls WeChat: of the function binaries, only it and login link an HTTP client (WeChatHTTP).
    Functions.definition(.callback, environment: $0, weChatTransport: AsyncHTTPClientTransport(), handOffFailure: handOffFailure)
}
