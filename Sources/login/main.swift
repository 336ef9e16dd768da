import FunctionRuntime
import WXAuth

Functions.handOffToPostgresIfConfigured(.login)
await FunctionHarness.main(name: "login") { Functions.definition(.login, environment: $0) }
