import FunctionRuntime
import WXAuth

Functions.handOffToPostgresIfConfigured(.refresh)
await FunctionHarness.main(name: "refresh") { Functions.definition(.refresh, environment: $0) }
