import FunctionRuntime
import WXAuth

await FunctionHarness.main(name: "refresh") { Functions.definition(.refresh, environment: $0) }
