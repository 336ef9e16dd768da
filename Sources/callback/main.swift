import FunctionRuntime
import WXAuth

Functions.handOffToPostgresIfConfigured(.callback)
await FunctionHarness.main(name: "callback") { Functions.definition(.callback, environment: $0) }
