import FunctionRuntime
import WXAuth

Functions.handOffToPostgresIfConfigured(.userinfo)
await FunctionHarness.main(name: "userinfo") { Functions.definition(.userinfo, environment: $0) }
