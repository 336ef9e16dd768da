import FunctionRuntime
import WXAuth

Functions.handOffToPostgresIfConfigured(.logout)
await FunctionHarness.main(name: "logout") { Functions.definition(.logout, environment: $0) }
